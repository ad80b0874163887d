#include "launcher/supervisor/sandbox_supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "launcher/supervisor/seccomp_notifier.h"

namespace cordon::supervisor {
namespace {

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

SandboxSupervisor::SandboxSupervisor(sandbox::SandboxProcess* process, PluginAuditor* auditor,
                                     SupervisorOptions options)
    : process_(process), auditor_(auditor), options_(options) {}

absl::Status SandboxSupervisor::HandleNotification(SupervisionResult* result, bool* listener_open) {
  SeccompNotifier notifier(process_->listener_fd());
  absl::StatusOr<std::optional<SeccompViolation>> received = notifier.Receive();
  if (!received.ok()) {
    *listener_open = false;
    return absl::OkStatus();  // the filter's last user is gone
  }
  if (!received->has_value()) return absl::OkStatus();
  const SeccompViolation& violation = **received;
  const ViolationVerdict verdict = Judge(violation, options_);
  // The record goes to the log before the answer: the syscall stays blocked meanwhile.
  absl::Status recorded = auditor_->RecordViolation(violation, verdict.action);
  if (!recorded.ok()) {
    // Fail closed as configured: never let the syscall through unrecorded.
    if (auditor_->failure_policy() == audit::OnWriteFailure::kDenyRequests && !verdict.kill) {
      return notifier.Deny(violation, EPERM);
    }
    result->kill_reason = KillReason::kAuditFailure;
    result->kill_detail = std::string(recorded.message());
    return process_->Kill();
  }
  if (verdict.learn) return notifier.DangerContinueForLearning(violation);
  if (verdict.kill) {
    if (result->kill_reason == KillReason::kNone) {
      result->kill_reason = verdict.kill_reason;
      result->kill_detail = absl::StrCat(violation.name, " (", violation.arch_name, ")");
    }
    return process_->Kill();
  }
  return notifier.Deny(violation, EPERM);
}

ViolationVerdict SandboxSupervisor::Judge(const SeccompViolation& violation,
                                          const SupervisorOptions& options) {
  ViolationVerdict verdict;
  if (violation.foreign_arch) {
    verdict.kill = true;
    verdict.kill_reason = KillReason::kForeignArchitecture;
  } else if (options.danger_learn_mode) {
    verdict.learn = true;
  } else if (options.kill_on_violation) {
    verdict.kill = true;
    verdict.kill_reason = KillReason::kSeccompViolation;
  }
  verdict.action = verdict.learn ? "continue-learning" : (verdict.kill ? "kill" : "eperm");
  return verdict;
}

bool SandboxSupervisor::Pump(int from, int to) {
  char buffer[65536];
  ssize_t n = read(from, buffer, sizeof(buffer));
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n == 0) return false;
  if (options_.on_output) {
    options_.on_output(to == STDERR_FILENO, std::string_view(buffer, static_cast<size_t>(n)));
    return true;
  }
  const char* data = buffer;
  while (n > 0) {
    ssize_t written = write(to, data, static_cast<size_t>(n));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return true;  // the caller's side is gone: drop output, keep draining
    data += written;
    n -= written;
  }
  return true;
}

bool SandboxSupervisor::PumpStdin() {
  if (stdin_pending_.empty() && !stdin_eof_) {
    char buffer[4096];
    ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) {
      stdin_eof_ = true;
    } else {
      stdin_pending_.assign(buffer, static_cast<size_t>(n));
    }
  }
  while (!stdin_pending_.empty()) {
    ssize_t written = write(options_.stdin_pipe, stdin_pending_.data(), stdin_pending_.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && errno == EAGAIN) return true;  // wait for POLLOUT
    if (written <= 0) return false;                   // the program closed its stdin
    stdin_pending_.erase(0, static_cast<size_t>(written));
  }
  return !stdin_eof_;
}

void SandboxSupervisor::DrainOutput() {
  for (int* fd : {&options_.stdout_pipe, &options_.stderr_pipe}) {
    if (*fd < 0) continue;
    int target = fd == &options_.stdout_pipe ? STDOUT_FILENO : STDERR_FILENO;
    // Every writer is dead once the sandbox is reaped, so this ends at EOF; the bound only
    // guards against a descendant that escaped the pid namespace, which cannot happen.
    for (int rounds = 0; rounds < 4096; ++rounds) {
      struct pollfd p {
        *fd, POLLIN, 0
      };
      if (poll(&p, 1, 1000) <= 0 || !Pump(*fd, target)) break;
    }
    close(*fd);
    *fd = -1;
  }
}

absl::StatusOr<int> SandboxSupervisor::ArmWatchdog() const {
  if (options_.wall_time_limit == absl::InfiniteDuration()) return -1;
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, "timerfd_create (wall-time watchdog)");
  absl::Duration remaining = options_.wall_time_limit - (absl::Now() - process_->started());
  if (remaining < absl::Milliseconds(1)) remaining = absl::Milliseconds(1);
  struct itimerspec spec {};
  spec.it_value = absl::ToTimespec(remaining);
  if (timerfd_settime(fd, 0, &spec, nullptr) != 0) {
    int saved = errno;
    close(fd);
    return absl::ErrnoToStatus(saved, "timerfd_settime (wall-time watchdog)");
  }
  return fd;
}

std::string SupervisionResult::KillReasonText() const {
  switch (kill_reason) {
    case KillReason::kWallTime:
      return absl::StrCat("quota exceeded: wall_time (", kill_detail, ")");
    case KillReason::kSeccompViolation:
    case KillReason::kForeignArchitecture:
      return absl::StrCat("seccomp violation: ", kill_detail);
    case KillReason::kAuditFailure:
      return absl::StrCat("audit log failure: ", kill_detail);
    case KillReason::kSupervisorError:
      return kill_detail;
    case KillReason::kNone:
      break;
  }
  return "";
}

absl::StatusOr<SupervisionResult> SandboxSupervisor::Run() {
  SupervisionResult result;
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&forwarded, sig);
  ScopedFd signal_fd(options_.forward_signals ? signalfd(-1, &forwarded, SFD_CLOEXEC) : -1);
  if (options_.forward_signals) sigprocmask(SIG_BLOCK, &forwarded, nullptr);

  absl::StatusOr<int> timer = ArmWatchdog();
  if (!timer.ok()) return timer.status();
  ScopedFd timer_fd(*timer);

  bool listener_open = process_->listener_fd() >= 0;
  for (int fd : {options_.stdin_pipe, options_.stdout_pipe, options_.stderr_pipe}) {
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  const bool quota_polling = static_cast<bool>(options_.on_quota_poll);
  absl::Time next_quota_poll = absl::Now() + absl::Seconds(1);
  for (;;) {
    const bool relay_stdin = options_.stdin_pipe >= 0;
    enum {
      kPidfd,
      kListener,
      kSignals,
      kTimer,
      kCallerStdin,
      kStdinPipe,
      kStdout,
      kStderr,
      kQuotaEvents,
      kCount
    };
    struct pollfd polls[kCount] = {
        {process_->pidfd(), POLLIN, 0},
        {listener_open ? process_->listener_fd() : -1, POLLIN, 0},
        {signal_fd.get(), POLLIN, 0},
        {timer_fd.get(), POLLIN, 0},
        // Read the caller's stdin only when nothing read earlier still waits for the pipe.
        {relay_stdin && stdin_pending_.empty() && !stdin_eof_ ? STDIN_FILENO : -1, POLLIN, 0},
        {relay_stdin && !stdin_pending_.empty() ? options_.stdin_pipe : -1, POLLOUT, 0},
        {options_.stdout_pipe, POLLIN, 0},
        {options_.stderr_pipe, POLLIN, 0},
        {quota_polling ? options_.quota_event_fd : -1, POLLIN, 0},
    };
    // Counted violations are written within about a second of their window closing, and
    // quota counters are read about once a second.
    int ready = poll(polls, kCount, auditor_->has_pending_counts() || quota_polling ? 1000 : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "poll (supervisor)");
    }
    if (polls[kListener].revents & POLLIN) {
      if (absl::Status s = HandleNotification(&result, &listener_open); !s.ok()) {
        // An unanswerable notification leaves a thread blocked forever: end the sandbox, but
        // keep supervising so the exit is reaped and recorded.
        if (result.kill_reason == KillReason::kNone) {
          result.kill_reason = KillReason::kSupervisorError;
          result.kill_detail = absl::StrCat("seccomp notification failed: ", s.message());
        }
        listener_open = false;
        (void)process_->Kill();
      }
    } else if (polls[kListener].revents & (POLLHUP | POLLERR | POLLNVAL)) {
      listener_open = false;
    }
    if (polls[kSignals].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(signal_fd.get(), &info, sizeof(info)) == sizeof(info)) {
        (void)process_->Signal(static_cast<int>(info.ssi_signo));
      }
    }
    if (polls[kTimer].revents & POLLIN) {
      // Read even when another kill came first: an unread timerfd stays readable and would
      // turn this loop into a busy spin until the sandbox is reaped.
      uint64_t expirations;
      (void)!read(timer_fd.get(), &expirations, sizeof(expirations));
    }
    if ((polls[kTimer].revents & POLLIN) && result.kill_reason == KillReason::kNone) {
      uint64_t limit_ms =
          static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.wall_time_limit));
      uint64_t observed_ms =
          static_cast<uint64_t>(absl::ToInt64Milliseconds(absl::Now() - process_->started()));
      result.kill_reason = KillReason::kWallTime;
      result.kill_detail = absl::StrCat("limit ", limit_ms, " ms");
      absl::Status recorded =
          auditor_->RecordQuota("wall_time", limit_ms, observed_ms, "killed", "");
      (void)process_->Kill();  // killed even when the record failed: fail closed
      if (!recorded.ok()) return recorded;
    }
    if (quota_polling &&
        ((polls[kQuotaEvents].revents & POLLIN) || absl::Now() >= next_quota_poll)) {
      next_quota_poll = absl::Now() + absl::Seconds(1);
      if (absl::Status s = options_.on_quota_poll(); !s.ok()) {
        if (result.kill_reason == KillReason::kNone) {
          result.kill_reason = KillReason::kAuditFailure;
          result.kill_detail = std::string(s.message());
        }
        (void)process_->Kill();
      }
    }
    if (auditor_->has_pending_counts()) {
      if (absl::Status s = auditor_->FlushViolationCounts(/*all=*/false); !s.ok()) {
        if (result.kill_reason == KillReason::kNone) {
          result.kill_reason = KillReason::kAuditFailure;
          result.kill_detail = std::string(s.message());
        }
        (void)process_->Kill();
      }
    }
    if (relay_stdin && (polls[kCallerStdin].revents != 0 || polls[kStdinPipe].revents != 0)) {
      if ((polls[kStdinPipe].revents & (POLLERR | POLLHUP)) || !PumpStdin()) {
        close(options_.stdin_pipe);  // EOF for the program, or it stopped reading
        options_.stdin_pipe = -1;
      }
    }
    for (int i = 0; i < 2; ++i) {
      int* fd = i == 0 ? &options_.stdout_pipe : &options_.stderr_pipe;
      if (*fd >= 0 && polls[kStdout + i].revents != 0) {
        if (!Pump(*fd, i == 0 ? STDOUT_FILENO : STDERR_FILENO)) {
          close(*fd);
          *fd = -1;
        }
      }
    }
    if (polls[kPidfd].revents & POLLIN) break;
  }
  // The forwarded signals stay blocked: the caller still has records to write.
  absl::StatusOr<sandbox::ExitInfo> exit = process_->Wait();
  DrainOutput();
  if (options_.stdin_pipe >= 0) {
    close(options_.stdin_pipe);
    options_.stdin_pipe = -1;
  }
  if (!exit.ok()) return exit.status();
  result.exit = *exit;
  return result;
}

}  // namespace cordon::supervisor
