#ifndef CORDON_LAUNCHER_SUPERVISOR_SANDBOX_SUPERVISOR_H_
#define CORDON_LAUNCHER_SUPERVISOR_SANDBOX_SUPERVISOR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "launcher/sandbox/sandbox_process.h"
#include "launcher/supervisor/plugin_auditor.h"

namespace cordon::supervisor {

struct SupervisorOptions {
  absl::Duration wall_time_limit = absl::InfiniteDuration();
  // The profile's on_violation: false = the syscall fails with EPERM, true = kill.
  bool kill_on_violation = false;
  // `cordon profile learn` only: violations are recorded and then allowed to run. Never for
  // untrusted code.
  bool danger_learn_mode = false;
  // Forward SIGINT/SIGTERM/SIGHUP/SIGQUIT received by the launcher to the sandbox.
  bool forward_signals = true;
};

enum class KillReason { kNone, kWallTime, kSeccompViolation, kForeignArchitecture, kAuditFailure };

struct SupervisionResult {
  sandbox::ExitInfo exit;
  KillReason kill_reason = KillReason::kNone;
  std::string kill_detail;  // e.g. the syscall name
};

// Watches one running sandbox until it ends: answers seccomp notifications (recording each
// before answering), enforces the wall-clock limit, forwards termination signals, and reaps.
class SandboxSupervisor {
 public:
  SandboxSupervisor(sandbox::SandboxProcess* process, PluginAuditor* auditor,
                    SupervisorOptions options);

  absl::StatusOr<SupervisionResult> Run();

 private:
  // A timerfd that fires when the wall-time limit is reached, or -1 without a limit.
  absl::StatusOr<int> ArmWatchdog() const;
  // Handles every pending notification; false once the listener is gone.
  absl::Status HandleNotification(SupervisionResult* result, bool* listener_open);

  sandbox::SandboxProcess* process_;
  PluginAuditor* auditor_;
  SupervisorOptions options_;
};

}  // namespace cordon::supervisor

#endif  // CORDON_LAUNCHER_SUPERVISOR_SANDBOX_SUPERVISOR_H_
