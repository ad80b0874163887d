#ifndef CORDON_LAUNCHER_SUPERVISOR_SECCOMP_NOTIFIER_H_
#define CORDON_LAUNCHER_SUPERVISOR_SECCOMP_NOTIFIER_H_

#include <linux/seccomp.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cordon::supervisor {

// SeccompViolation::name of a number libseccomp has no name for.
inline constexpr char kUnknownSyscallName[] = "unknown";

// One syscall the filter sent to the launcher instead of letting it run.
struct SeccompViolation {
  uint64_t id = 0;        // the kernel's notification id, needed for the answer
  pid_t pid = 0;          // host pid of the calling thread
  uint32_t arch = 0;      // AUDIT_ARCH_* of the call
  int32_t nr = 0;         // syscall number as the caller passed it (x32 bit included)
  std::string name;       // libseccomp's name for (arch, nr), or "unknown"
  std::string arch_name;  // "x86_64", "x32", "i386", ...
  std::array<uint64_t, 6> args{};
  uint64_t instruction_pointer = 0;
  // i386 or x32: never answered with an error, the plugin is killed.
  bool foreign_arch = false;
};

// x86_64's x32 ABI: numbers with bit 30 set and bit 31 clear. A number with bit 31 set
// (syscall(-1), what a tracer uses to skip a call, or any "negative" number) is no ABI's
// syscall at all; it is reported as the native number it is, and denied like any other.
bool IsX32SyscallNumber(uint32_t arch, int32_t nr);

// Reads seccomp user notifications from a listener fd and answers them. There is no
// "allow" answer on purpose: SECCOMP_USER_NOTIF_FLAG_CONTINUE must never implement policy
// (the syscall's arguments can change between the check and the kernel's use of them).
class SeccompNotifier {
 public:
  explicit SeccompNotifier(int listener_fd) : listener_fd_(listener_fd) {}

  // Receives one notification; returns nullopt when the caller died before it could be read
  // (ENOENT), which is normal when the sandbox is being killed.
  absl::StatusOr<std::optional<SeccompViolation>> Receive();

  // What Receive makes of one notification: names the architecture and syscall and marks a
  // foreign ABI. Separate so that tests can feed notifications this kernel cannot produce
  // (i386 and x32 calls need IA32 emulation and the x32 ABI).
  static SeccompViolation Decode(const struct seccomp_notif& request);

  // Lets the syscall run. Only for `cordon profile learn` on a trusted program: with
  // CONTINUE the kernel runs the call with arguments that may have changed since they were
  // read, so it can never implement policy.
  absl::Status DangerContinueForLearning(const SeccompViolation& violation);

  // Fails the syscall with -error_number. A target that already died is not an error.
  absl::Status Deny(const SeccompViolation& violation, int error_number);

 private:
  int listener_fd_;
};

}  // namespace cordon::supervisor

#endif  // CORDON_LAUNCHER_SUPERVISOR_SECCOMP_NOTIFIER_H_
