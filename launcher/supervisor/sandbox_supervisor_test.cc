#include "launcher/supervisor/sandbox_supervisor.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <thread>

#include "gtest/gtest.h"
#include "launcher/sandbox/sandbox_process.h"
#include "launcher/supervisor/plugin_auditor.h"

namespace cordon::supervisor {
namespace {

int64_t ThreadCpuMs() {
  struct timespec ts {};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// A sandbox that outlives the launcher's kill for a while (as one stuck in the kernel would):
// the watchdog fires after another kill reason was set, and the supervisor must still consume
// the timer instead of spinning on it until the reap.
//
// Stand-ins: a forked child that exits when `release` closes is the "init" (for the final
// wait4), and a pipe is its "pidfd": pidfd_send_signal on a pipe fails, so the kill does not
// end the wait, and the pipe turns readable only when the test ends the window.
TEST(SandboxSupervisorTest, WatchdogFiringAfterAnotherKillDoesNotSpin) {
  int release[2], exited[2], status[2];
  ASSERT_EQ(pipe2(release, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(exited, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(status, O_CLOEXEC), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(release[1]);
    char c;
    while (read(release[0], &c, 1) < 0) {
    }
    _exit(0);
  }
  close(release[0]);
  close(status[1]);  // no program status: the init's own status counts
  sandbox::SandboxProcess process(child, exited[0], status[0], -1, -1, absl::Now());

  // The first quota poll fails (as a failed audit write would), which sets kAuditFailure and
  // kills; the 50 ms watchdog fires afterwards.
  int event = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(event, 0);
  SupervisorOptions options;
  options.forward_signals = false;
  options.wall_time_limit = absl::Milliseconds(50);
  options.quota_event_fd = event;
  options.on_quota_poll = [event]() -> absl::Status {
    uint64_t value;
    (void)!read(event, &value, sizeof(value));
    return absl::InternalError("audit write failed");
  };
  PluginAuditor auditor(nullptr, {"run-1", "probe", ""});
  SandboxSupervisor supervisor(&process, &auditor, options);

  // The observation window: how long the sandbox takes to go away after the kill.
  std::thread ender([&] {
    absl::SleepFor(absl::Seconds(1));
    close(release[1]);  // the stand-in init exits
    char c = 'x';
    (void)!write(exited[1], &c, 1);  // and its "pidfd" reports it
  });
  const int64_t cpu_before = ThreadCpuMs();
  absl::StatusOr<SupervisionResult> result = supervisor.Run();
  const int64_t cpu_ms = ThreadCpuMs() - cpu_before;
  ender.join();
  close(exited[1]);
  close(event);

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->kill_reason, KillReason::kAuditFailure) << "the first kill reason stands";
  EXPECT_TRUE(result->exit.exited());
  // Waiting in poll costs next to nothing; a spin on the unread timer burns the whole second
  // (a good part of it even on a loaded machine).
  EXPECT_LT(cpu_ms, 50) << "the supervisor spun while the sandbox was going away";
}

}  // namespace
}  // namespace cordon::supervisor
