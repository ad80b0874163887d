#ifndef CORDON_LAUNCHER_SANDBOX_SANDBOX_PROCESS_H_
#define CORDON_LAUNCHER_SANDBOX_SANDBOX_PROCESS_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <csignal>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cordon::sandbox {

// How the sandboxed program ended.
struct ExitInfo {
  // The program's own wait status as reported by the sandbox init; absent when init itself
  // was killed first (watchdog, quota kill, launcher kill), in which case init_status says.
  std::optional<int> program_status;
  int init_status = 0;
  absl::Duration wall_time;
  absl::Duration cpu_time;    // user + system of everything init reaped
  uint64_t max_rss_bytes = 0;  // largest resident set of any process in the sandbox

  bool exited() const;
  int exit_code() const;      // valid when exited()
  int signal() const;         // signal number when killed by one, else 0
  // cordon run's exit status: the code, or 128 + signal.
  int ShellStatus() const;
};

// A running sandbox: its init process (pid 1 inside), owned through a pidfd. Killing it
// kills the whole sandbox, since the pid namespace dies with its init. The destructor
// kills and reaps a sandbox that is still running, so none is ever left behind.
class SandboxProcess {
 public:
  SandboxProcess(pid_t pid, int pidfd, int status_fd, int lifeline_fd, int listener_fd,
                 absl::Time started, int tmp_dir_fd = -1);
  ~SandboxProcess();
  SandboxProcess(const SandboxProcess&) = delete;
  SandboxProcess& operator=(const SandboxProcess&) = delete;

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_; }
  absl::Time started() const { return started_; }
  // The seccomp user-notification listener (owned here), or -1.
  int listener_fd() const { return listener_fd_; }
  // O_PATH fd of the sandbox's /tmp (owned here) when SandboxSpec::report_tmp_dir asked for
  // it and the init could open it, else -1. Stays valid after the sandbox is gone.
  int tmp_dir_fd() const { return tmp_dir_fd_; }
  // Closes that fd once its last look is done: it pins the tmpfs, so a dead sandbox's /tmp
  // would otherwise hold up to its size of memory for as long as this object lives.
  void CloseTmpDir();

  // Delivers a signal to init, which forwards SIGTERM/SIGINT/SIGHUP/... to the program.
  // SIGKILL kills the whole sandbox at once.
  absl::Status Signal(int signal_number);
  absl::Status Kill() { return Signal(SIGKILL); }

  // Blocks until the sandbox has ended and reaps it. Call once.
  absl::StatusOr<ExitInfo> Wait();

 private:
  pid_t pid_;
  int pidfd_;
  int status_fd_;
  int lifeline_fd_;
  int listener_fd_;
  absl::Time started_;
  int tmp_dir_fd_;
  std::atomic<bool> reaped_{false};
};

}  // namespace cordon::sandbox

#endif  // CORDON_LAUNCHER_SANDBOX_SANDBOX_PROCESS_H_
