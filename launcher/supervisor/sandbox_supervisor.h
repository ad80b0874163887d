#ifndef CORDON_LAUNCHER_SUPERVISOR_SANDBOX_SUPERVISOR_H_
#define CORDON_LAUNCHER_SUPERVISOR_SANDBOX_SUPERVISOR_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

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
  // cordon run: the program's stdio are pipes; the supervisor copies the caller's stdin into
  // stdin_pipe (write end, owned here) and stdout_pipe/stderr_pipe (read ends, owned here)
  // to the caller's fds 1 and 2. -1: not relayed.
  int stdin_pipe = -1;
  int stdout_pipe = -1;
  int stderr_pipe = -1;
  // Loaded plugins: what arrives on stdout_pipe / stderr_pipe goes here, in chunks as read,
  // instead of to the caller's fds 1 and 2 (a host's stdout and stderr are not the plugin's
  // to write). Called on the supervising thread.
  std::function<void(bool is_stderr, std::string_view bytes)> on_output;
  // Quota events while the plugin runs: on_quota_poll is called when quota_event_fd polls
  // readable and at least once a second (some counters, e.g. v1 pids refusals, are never
  // notified). It records what it finds; an error (the record failed) ends the sandbox like a
  // failed seccomp record does. Unset: quota hits are found only after the exit.
  int quota_event_fd = -1;
  std::function<absl::Status()> on_quota_poll;
};

enum class KillReason {
  kNone,
  kWallTime,
  kSeccompViolation,
  kForeignArchitecture,
  kAuditFailure,
  kSupervisorError,  // a notification could not be answered; the sandbox was ended
};

struct SupervisionResult {
  sandbox::ExitInfo exit;
  KillReason kill_reason = KillReason::kNone;
  std::string kill_detail;  // e.g. the syscall name

  // The plugin.exit `reason` for a kill the supervisor made, the same words for `cordon run`
  // and loaded plugins: "quota exceeded: wall_time (limit 500 ms)", "seccomp violation:
  // keyctl", "audit log failure: ...". Empty for kNone.
  std::string KillReasonText() const;
};

// What the supervisor does with one seccomp notification: the `action` recorded in
// seccomp.violation ("eperm", "kill" or "continue-learning") and, for a kill, why.
struct ViolationVerdict {
  std::string action;
  bool kill = false;
  bool learn = false;  // let it run (learn mode only, never for a foreign ABI)
  KillReason kill_reason = KillReason::kNone;
};

// Watches one running sandbox until it ends: answers seccomp notifications (recording each
// before answering), enforces the wall-clock limit, forwards termination signals, and reaps.
class SandboxSupervisor {
 public:
  SandboxSupervisor(sandbox::SandboxProcess* process, PluginAuditor* auditor,
                    SupervisorOptions options);

  absl::StatusOr<SupervisionResult> Run();

  // The answer to a violation under `options`: a foreign ABI (i386, x32) is always killed,
  // even in learn mode; a native call gets the profile's on_violation.
  static ViolationVerdict Judge(const SeccompViolation& violation,
                                const SupervisorOptions& options);

 private:
  // Copies what is readable on `from` to `to` (or on_output); false once `from` is at EOF or
  // fails.
  bool Pump(int from, int to);
  // Reads the caller's stdin into the program's stdin pipe without ever blocking on a pipe the
  // program does not read; false once either side is finished.
  bool PumpStdin();
  // After exit: copies what the program's last writes left in the output pipes.
  void DrainOutput();
  // A timerfd that fires when the wall-time limit is reached, or -1 without a limit.
  absl::StatusOr<int> ArmWatchdog() const;
  // Handles every pending notification; false once the listener is gone.
  absl::Status HandleNotification(SupervisionResult* result, bool* listener_open);

  sandbox::SandboxProcess* process_;
  PluginAuditor* auditor_;
  SupervisorOptions options_;
  std::string stdin_pending_;  // read from the caller, not yet accepted by the pipe
  bool stdin_eof_ = false;
};

}  // namespace cordon::supervisor

#endif  // CORDON_LAUNCHER_SUPERVISOR_SANDBOX_SUPERVISOR_H_
