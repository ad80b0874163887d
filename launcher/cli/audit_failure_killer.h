#ifndef CORDON_LAUNCHER_CLI_AUDIT_FAILURE_KILLER_H_
#define CORDON_LAUNCHER_CLI_AUDIT_FAILURE_KILLER_H_

#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "audit/audit_log.h"

namespace cordon::cli {

// Acts on `cordon run`'s audit log failing, from whichever thread finds it. A failed fdatasync
// in batch mode is found by the log's background flusher while the supervisor may be idle (a
// program making no syscall the profile denies writes no record), so waiting for the next
// record would leave the program running unaudited for as long as it likes. Under kill-plugins
// and stop-launcher the sandbox is killed at once; under deny-requests it runs on and every
// later record, and so every recorded action, fails.
class AuditFailureKiller {
 public:
  AuditFailureKiller() = default;
  AuditFailureKiller(const AuditFailureKiller&) = delete;
  AuditFailureKiller& operator=(const AuditFailureKiller&) = delete;

  // For AuditLogOptions::on_failure_callback; this object must outlive the log.
  std::function<void(const absl::Status&, audit::OnWriteFailure)> Callback();
  // The running sandbox, by its pidfd; killed at once if the log has already failed. The fd
  // must stay open until Disarm.
  void Arm(int pidfd);
  void Disarm();
  // True once the sandbox was killed for a log failure; detail() says which.
  bool killed() const;
  std::string detail() const;

 private:
  void OnFailure(const absl::Status& status, audit::OnWriteFailure policy);
  void KillLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  int pidfd_ ABSL_GUARDED_BY(mu_) = -1;
  bool must_kill_ ABSL_GUARDED_BY(mu_) = false;
  bool killed_ ABSL_GUARDED_BY(mu_) = false;
  std::string detail_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_AUDIT_FAILURE_KILLER_H_
