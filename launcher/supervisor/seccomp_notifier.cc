#include "launcher/supervisor/seccomp_notifier.h"

#include <linux/audit.h>
#include <seccomp.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace cordon::supervisor {
namespace {

constexpr uint32_t kX32SyscallBit = 0x40000000;

std::string ArchName(uint32_t arch, int32_t nr) {
  switch (arch) {
    case AUDIT_ARCH_X86_64:
      return (static_cast<uint32_t>(nr) & kX32SyscallBit) != 0 ? "x32" : "x86_64";
    case AUDIT_ARCH_I386:
      return "x86";
    case AUDIT_ARCH_AARCH64:
      return "aarch64";
    default:
      return absl::StrCat("0x", absl::Hex(arch));
  }
}

std::string SyscallName(uint32_t arch, int32_t nr) {
  uint32_t token = arch;
  int32_t number = nr;
  if (arch == AUDIT_ARCH_X86_64 && (static_cast<uint32_t>(nr) & kX32SyscallBit) != 0) {
    token = SCMP_ARCH_X32;
  }
  char* name = seccomp_syscall_resolve_num_arch(token, number);
  if (name == nullptr) return "unknown";
  std::string result(name);
  free(name);
  return result;
}

}  // namespace

SeccompNotifier::~SeccompNotifier() {
  if (request_ != nullptr) seccomp_notify_free(request_, response_);
}

absl::Status SeccompNotifier::EnsureBuffers() {
  if (request_ != nullptr) return absl::OkStatus();
  // Sized once by libseccomp with SECCOMP_GET_NOTIF_SIZES, so a newer kernel's larger
  // structures never overflow them; reused for every notification of this sandbox.
  if (seccomp_notify_alloc(&request_, &response_) != 0) {
    request_ = nullptr;
    response_ = nullptr;
    return absl::ResourceExhaustedError("seccomp_notify_alloc failed");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SeccompViolation>> SeccompNotifier::Receive() {
  if (absl::Status s = EnsureBuffers(); !s.ok()) return s;
  int rc;
  do {
    rc = seccomp_notify_receive(listener_fd_, request_);
  } while (rc == -EINTR);
  if (rc != 0) {
    // The caller died before we read it. libseccomp 2.5 reports that as ECANCELED (it folds
    // every failed ioctl into it); the kernel itself says ENOENT.
    if (rc == -ENOENT || rc == -ECANCELED) return std::nullopt;
    return absl::ErrnoToStatus(-rc, "seccomp_notify_receive");
  }
  SeccompViolation violation;
  violation.id = request_->id;
  violation.pid = static_cast<pid_t>(request_->pid);
  violation.arch = request_->data.arch;
  violation.nr = request_->data.nr;
  violation.instruction_pointer = request_->data.instruction_pointer;
  for (int i = 0; i < 6; ++i) violation.args[i] = request_->data.args[i];
  violation.arch_name = ArchName(violation.arch, violation.nr);
  violation.name = SyscallName(violation.arch, violation.nr);
  violation.foreign_arch = violation.arch != AUDIT_ARCH_X86_64 ||
                           (static_cast<uint32_t>(violation.nr) & kX32SyscallBit) != 0;
  return violation;
}

absl::Status SeccompNotifier::Respond(uint64_t id, int32_t error, uint32_t flags) {
  if (absl::Status s = EnsureBuffers(); !s.ok()) return s;
  response_->id = id;
  response_->val = 0;
  response_->error = error;
  response_->flags = flags;
  int rc = seccomp_notify_respond(listener_fd_, response_);
  // ENOENT (kernel) / ECANCELED (libseccomp 2.5): the caller died before the answer.
  if (rc == 0 || rc == -ENOENT || rc == -ECANCELED) return absl::OkStatus();
  return absl::ErrnoToStatus(-rc, "seccomp_notify_respond");
}

absl::Status SeccompNotifier::Deny(const SeccompViolation& violation, int error_number) {
  return Respond(violation.id, -error_number, 0);
}

absl::Status SeccompNotifier::DangerContinueForLearning(const SeccompViolation& violation) {
  return Respond(violation.id, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

}  // namespace cordon::supervisor
