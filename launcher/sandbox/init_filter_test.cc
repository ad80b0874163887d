#include "launcher/sandbox/init_filter.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include <cstdint>

#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "sandbox-profiles/bpf_evaluator.h"

namespace cordon::sandbox {
namespace {

uint32_t Verdict(uint32_t arch, uint32_t nr) {
  struct seccomp_data data {};
  data.arch = arch;
  data.nr = static_cast<int>(nr);
  auto verdict = profiles::BpfEvaluator::Evaluate(
      absl::MakeConstSpan(InitFilter::Instructions(), InitFilter::Length()), data);
  EXPECT_TRUE(verdict.ok()) << verdict.status();
  return verdict.ok() ? *verdict : 0;
}

TEST(InitFilterTest, AllowsWhatInitDoesWhileItWaits) {
  for (uint32_t nr : {__NR_poll, __NR_ppoll, __NR_read, __NR_write, __NR_close, __NR_kill,
                      __NR_wait4, __NR_exit_group, __NR_exit, __NR_restart_syscall}) {
    EXPECT_EQ(Verdict(AUDIT_ARCH_X86_64, nr), SECCOMP_RET_ALLOW) << nr;
  }
}

TEST(InitFilterTest, KillsEverythingElse) {
  for (uint32_t nr : {__NR_execve,      __NR_execveat, __NR_openat,       __NR_open,
                      __NR_socket,      __NR_ptrace,   __NR_mmap,         __NR_mprotect,
                      __NR_clone,       __NR_clone3,   __NR_fork,         __NR_setns,
                      __NR_unshare,     __NR_prctl,    __NR_seccomp,      __NR_process_vm_writev,
                      __NR_pidfd_getfd, __NR_ioctl,    __NR_rt_sigaction, __NR_tgkill}) {
    EXPECT_EQ(Verdict(AUDIT_ARCH_X86_64, nr), SECCOMP_RET_KILL_PROCESS) << nr;
  }
  EXPECT_EQ(Verdict(AUDIT_ARCH_X86_64, 0xffffffffu), SECCOMP_RET_KILL_PROCESS);
}

TEST(InitFilterTest, KillsOtherArchitecturesAndX32EvenForAllowedNumbers) {
  // i386 read is 3, write 4: allowed numbers on x86_64 (close and stat there), still killed.
  EXPECT_EQ(Verdict(AUDIT_ARCH_I386, 3), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Verdict(AUDIT_ARCH_I386, 4), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Verdict(AUDIT_ARCH_X86_64, 0x40000000u | __NR_read), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Verdict(AUDIT_ARCH_X86_64, 0x40000000u | __NR_wait4), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Verdict(AUDIT_ARCH_AARCH64, __NR_read), SECCOMP_RET_KILL_PROCESS);
}

TEST(InitFilterTest, ProgramDescribesTheInstructions) {
  EXPECT_EQ(InitFilter::Program().len, InitFilter::Length());
  EXPECT_EQ(InitFilter::Program().filter, InitFilter::Instructions());
}

}  // namespace
}  // namespace cordon::sandbox
