#include "launcher/supervisor/sandbox_supervisor.h"

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

absl::Status SandboxSupervisor::HandleNotification(SupervisionResult* result,
                                                   bool* listener_open) {
  SeccompNotifier notifier(process_->listener_fd());
  absl::StatusOr<std::optional<SeccompViolation>> received = notifier.Receive();
  if (!received.ok()) {
    *listener_open = false;
    return absl::OkStatus();  // the filter's last user is gone
  }
  if (!received->has_value()) return absl::OkStatus();
  const SeccompViolation& violation = **received;
  bool kill = violation.foreign_arch || options_.kill_on_violation;
  bool learn = options_.danger_learn_mode && !violation.foreign_arch;
  // The record goes to the log before the answer: the syscall stays blocked meanwhile.
  absl::Status recorded = auditor_->RecordViolation(
      violation, learn ? "continue-learning" : (kill ? "kill" : "eperm"));
  if (!recorded.ok()) {
    // Fail closed as configured: never let the syscall through unrecorded.
    if (auditor_->failure_policy() == audit::OnWriteFailure::kDenyRequests && !kill) {
      return notifier.Deny(violation, EPERM);
    }
    result->kill_reason = KillReason::kAuditFailure;
    result->kill_detail = std::string(recorded.message());
    return process_->Kill();
  }
  if (learn) return notifier.DangerContinueForLearning(violation);
  if (kill) {
    if (result->kill_reason == KillReason::kNone) {
      result->kill_reason = violation.foreign_arch ? KillReason::kForeignArchitecture
                                                   : KillReason::kSeccompViolation;
      result->kill_detail = absl::StrCat(violation.name, " (", violation.arch_name, ")");
    }
    return process_->Kill();
  }
  return notifier.Deny(violation, EPERM);
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
  for (;;) {
    struct pollfd polls[4] = {
        {process_->pidfd(), POLLIN, 0},
        {listener_open ? process_->listener_fd() : -1, POLLIN, 0},
        {signal_fd.get(), POLLIN, 0},
        {timer_fd.get(), POLLIN, 0},
    };
    int ready = poll(polls, 4, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "poll (supervisor)");
    }
    if (polls[1].revents & POLLIN) {
      if (absl::Status s = HandleNotification(&result, &listener_open); !s.ok()) return s;
    } else if (polls[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
      listener_open = false;
    }
    if (polls[2].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(signal_fd.get(), &info, sizeof(info)) == sizeof(info)) {
        (void)process_->Signal(static_cast<int>(info.ssi_signo));
      }
    }
    if ((polls[3].revents & POLLIN) && result.kill_reason == KillReason::kNone) {
      uint64_t expirations;
      (void)read(timer_fd.get(), &expirations, sizeof(expirations));
      uint64_t limit_ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.wall_time_limit));
      uint64_t observed_ms =
          static_cast<uint64_t>(absl::ToInt64Milliseconds(absl::Now() - process_->started()));
      result.kill_reason = KillReason::kWallTime;
      result.kill_detail = absl::StrCat("limit ", limit_ms, " ms");
      absl::Status recorded =
          auditor_->RecordQuota("wall_time", limit_ms, observed_ms, "killed", "");
      (void)process_->Kill();  // killed even when the record failed: fail closed
      if (!recorded.ok()) return recorded;
    }
    if (polls[0].revents & POLLIN) break;
  }
  // The forwarded signals stay blocked: the caller still has records to write.
  absl::StatusOr<sandbox::ExitInfo> exit = process_->Wait();
  if (!exit.ok()) return exit.status();
  result.exit = *exit;
  return result;
}

}  // namespace cordon::supervisor
