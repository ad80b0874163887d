#include "launcher/sandbox/init_filter.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include <cstddef>
#include <cstdint>

namespace cordon::sandbox {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#error "InitFilter: unsupported architecture"
#endif

// x32 system calls share x86_64's audit arch and set this bit in the number.
constexpr uint32_t kX32SyscallBit = 0x40000000;

constexpr sock_filter Stmt(uint16_t code, uint32_t k) { return {code, 0, 0, k}; }
constexpr sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return {code, jt, jf, k};
}

constexpr uint32_t kNrOffset = offsetof(struct seccomp_data, nr);
constexpr uint32_t kArchOffset = offsetof(struct seccomp_data, arch);

// Each allowed number: "if nr == N goto allow". The allow is the last instruction, so the
// jump distance is the number of instructions left after this one, minus one.
#define CORDON_INIT_ALLOW(nr, left) Jump(BPF_JMP | BPF_JEQ | BPF_K, (nr), (left), 0)

constexpr sock_filter kInstructions[] = {
    Stmt(BPF_LD | BPF_W | BPF_ABS, kArchOffset),
    Jump(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
    Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    Stmt(BPF_LD | BPF_W | BPF_ABS, kNrOffset),
    Jump(BPF_JMP | BPF_JGE | BPF_K, kX32SyscallBit, 0, 1),
    Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#if defined(__NR_poll)
    CORDON_INIT_ALLOW(__NR_poll, 10),
#else
    CORDON_INIT_ALLOW(__NR_ppoll, 10),
#endif
    CORDON_INIT_ALLOW(__NR_ppoll, 9),
    CORDON_INIT_ALLOW(__NR_read, 8),
    CORDON_INIT_ALLOW(__NR_write, 7),
    CORDON_INIT_ALLOW(__NR_close, 6),
    CORDON_INIT_ALLOW(__NR_kill, 5),
    CORDON_INIT_ALLOW(__NR_wait4, 4),
    CORDON_INIT_ALLOW(__NR_exit_group, 3),
    CORDON_INIT_ALLOW(__NR_exit, 2),
    CORDON_INIT_ALLOW(__NR_restart_syscall, 1),
    Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    Stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

#undef CORDON_INIT_ALLOW

// The jump distances above are hand-counted: the allow list is the 10 instructions after the
// x32 check, then the kill, then the allow.
static_assert(sizeof(kInstructions) / sizeof(kInstructions[0]) == 18);

const sock_fprog kProgram = {
    static_cast<unsigned short>(sizeof(kInstructions) / sizeof(kInstructions[0])),
    const_cast<sock_filter*>(kInstructions)};

}  // namespace

const sock_fprog& InitFilter::Program() { return kProgram; }
const sock_filter* InitFilter::Instructions() { return kInstructions; }
size_t InitFilter::Length() { return sizeof(kInstructions) / sizeof(kInstructions[0]); }

}  // namespace cordon::sandbox
