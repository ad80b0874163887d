#include "launcher/cli/audit_failure_killer.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iostream>

namespace cordon::cli {

std::function<void(const absl::Status&, audit::OnWriteFailure)> AuditFailureKiller::Callback() {
  return [this](const absl::Status& status, audit::OnWriteFailure policy) {
    OnFailure(status, policy);
  };
}

void AuditFailureKiller::OnFailure(const absl::Status& status, audit::OnWriteFailure policy) {
  std::cerr << "cordon run: audit log failed: " << status.message() << "\n";
  if (policy == audit::OnWriteFailure::kDenyRequests) return;
  absl::MutexLock lock(&mu_);
  must_kill_ = true;
  detail_ = std::string(status.message());
  KillLocked();
}

void AuditFailureKiller::Arm(int pidfd) {
  absl::MutexLock lock(&mu_);
  pidfd_ = pidfd;
  KillLocked();
}

void AuditFailureKiller::Disarm() {
  absl::MutexLock lock(&mu_);
  pidfd_ = -1;
}

void AuditFailureKiller::KillLocked() {
  if (!must_kill_ || pidfd_ < 0) return;
  // SIGKILL to the sandbox's init ends every process in its pid namespace. Through the pidfd,
  // not SandboxProcess::Kill: this runs on the log's thread, concurrently with the supervisor
  // reaping. A pidfd stays valid after the reap (the kernel then answers ESRCH: nothing left
  // to kill).
  if (syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0) == 0) killed_ = true;
}

bool AuditFailureKiller::killed() const {
  absl::MutexLock lock(&mu_);
  return killed_;
}

std::string AuditFailureKiller::detail() const {
  absl::MutexLock lock(&mu_);
  return detail_;
}

}  // namespace cordon::cli
