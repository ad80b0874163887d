#include "launcher/supervisor/seccomp_notifier.h"

#include <linux/audit.h>
#include <seccomp.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace cordon::supervisor {
namespace {

std::string ArchName(uint32_t arch, int32_t nr) {
  switch (arch) {
    case AUDIT_ARCH_X86_64:
      return IsX32SyscallNumber(arch, nr) ? "x32" : "x86_64";
    case AUDIT_ARCH_I386:
      return "i386";
    case AUDIT_ARCH_AARCH64:
      return "aarch64";
    default:
      return absl::StrCat("0x", absl::Hex(arch));
  }
}

std::string SyscallName(uint32_t arch, int32_t nr) {
  // libseccomp keeps its pseudo-syscalls (names missing on an architecture) at negative
  // numbers; a negative nr must not be dressed up as one of them.
  if (nr < 0) return kUnknownSyscallName;
  // AUDIT_ARCH_* values double as libseccomp's SCMP_ARCH_* tokens.
  uint32_t token = IsX32SyscallNumber(arch, nr) ? SCMP_ARCH_X32 : arch;
  char* name = seccomp_syscall_resolve_num_arch(token, nr);
  if (name == nullptr) return kUnknownSyscallName;
  std::string result(name);
  free(name);
  return result;
}

}  // namespace

bool IsX32SyscallNumber(uint32_t arch, int32_t nr) {
  constexpr uint32_t kX32SyscallBit = 0x40000000;
  constexpr uint32_t kAbiBits = 0xc0000000;
  return arch == AUDIT_ARCH_X86_64 && (static_cast<uint32_t>(nr) & kAbiBits) == kX32SyscallBit;
}

SeccompViolation SeccompNotifier::Decode(const struct seccomp_notif& request) {
  SeccompViolation violation;
  violation.id = request.id;
  violation.pid = static_cast<pid_t>(request.pid);
  violation.arch = request.data.arch;
  violation.nr = request.data.nr;
  violation.instruction_pointer = request.data.instruction_pointer;
  for (int i = 0; i < 6; ++i) violation.args[i] = request.data.args[i];
  violation.arch_name = ArchName(violation.arch, violation.nr);
  violation.name = SyscallName(violation.arch, violation.nr);
  violation.foreign_arch =
      violation.arch != AUDIT_ARCH_X86_64 || IsX32SyscallNumber(violation.arch, violation.nr);
  return violation;
}

absl::StatusOr<std::optional<SeccompViolation>> SeccompNotifier::Receive() {
  struct seccomp_notif* request = nullptr;
  struct seccomp_notif_resp* response = nullptr;
  // libseccomp sizes the buffers with SECCOMP_GET_NOTIF_SIZES, so a newer kernel's larger
  // structures never overflow them.
  if (seccomp_notify_alloc(&request, &response) != 0) {
    return absl::ResourceExhaustedError("seccomp_notify_alloc failed");
  }
  int rc;
  do {
    rc = seccomp_notify_receive(listener_fd_, request);
  } while (rc == -EINTR);
  if (rc != 0) {
    seccomp_notify_free(request, response);
    // The caller died before we read it. libseccomp 2.5 reports that as ECANCELED (it folds
    // every failed ioctl into it); the kernel itself says ENOENT.
    if (rc == -ENOENT || rc == -ECANCELED) return std::nullopt;
    return absl::ErrnoToStatus(-rc, "seccomp_notify_receive");
  }
  SeccompViolation violation = Decode(*request);
  seccomp_notify_free(request, response);
  return violation;
}

absl::Status SeccompNotifier::Deny(const SeccompViolation& violation, int error_number) {
  struct seccomp_notif* request = nullptr;
  struct seccomp_notif_resp* response = nullptr;
  if (seccomp_notify_alloc(&request, &response) != 0) {
    return absl::ResourceExhaustedError("seccomp_notify_alloc failed");
  }
  response->id = violation.id;
  response->val = 0;
  response->error = -error_number;
  response->flags = 0;
  int rc = seccomp_notify_respond(listener_fd_, response);
  seccomp_notify_free(request, response);
  // ENOENT (kernel) / ECANCELED (libseccomp 2.5): the caller died before the answer.
  if (rc == 0 || rc == -ENOENT || rc == -ECANCELED) return absl::OkStatus();
  return absl::ErrnoToStatus(-rc, "seccomp_notify_respond");
}

}  // namespace cordon::supervisor

namespace cordon::supervisor {

absl::Status SeccompNotifier::DangerContinueForLearning(const SeccompViolation& violation) {
  struct seccomp_notif* request = nullptr;
  struct seccomp_notif_resp* response = nullptr;
  if (seccomp_notify_alloc(&request, &response) != 0) {
    return absl::ResourceExhaustedError("seccomp_notify_alloc failed");
  }
  response->id = violation.id;
  response->val = 0;
  response->error = 0;
  response->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  int rc = seccomp_notify_respond(listener_fd_, response);
  seccomp_notify_free(request, response);
  if (rc == 0 || rc == -ENOENT || rc == -ECANCELED) return absl::OkStatus();
  return absl::ErrnoToStatus(-rc, "seccomp_notify_respond (continue)");
}

}  // namespace cordon::supervisor
