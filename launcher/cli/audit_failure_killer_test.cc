#include "launcher/cli/audit_failure_killer.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "audit/audit_log.h"
#include "gtest/gtest.h"

namespace cordon::cli {
namespace {

// A child that waits to be killed, with its pidfd. The destructor kills and reaps it whatever
// the test did, so a failing test leaves nothing behind.
class PausedChild {
 public:
  PausedChild() {
    pid_ = fork();
    if (pid_ == 0) {
      for (;;) pause();
    }
    pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  }
  ~PausedChild() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      (void)Reap();
    }
    if (pidfd_ >= 0) close(pidfd_);
  }
  int pidfd() const { return pidfd_; }
  bool ok() const { return pid_ > 0 && pidfd_ >= 0; }
  // Waits for the child to end; its wait status.
  int Reap() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }
  // Ends the child with SIGTERM; its wait status (SIGKILL if something killed it first).
  int Terminate() {
    kill(pid_, SIGTERM);
    return Reap();
  }

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

TEST(AuditFailureKillerTest, KillPolicyKillsTheArmedSandbox) {
  PausedChild child;
  ASSERT_TRUE(child.ok());
  AuditFailureKiller killer;
  killer.Arm(child.pidfd());
  EXPECT_FALSE(killer.killed());
  killer.Callback()(absl::DataLossError("fdatasync failed"), audit::OnWriteFailure::kKillPlugins);
  const int status = child.Reap();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(killer.killed());
  EXPECT_EQ(killer.detail(), "fdatasync failed");
}

TEST(AuditFailureKillerTest, FailureBeforeArmKillsOnArm) {
  PausedChild child;
  ASSERT_TRUE(child.ok());
  AuditFailureKiller killer;
  killer.Callback()(absl::DataLossError("gone"), audit::OnWriteFailure::kStopLauncher);
  EXPECT_FALSE(killer.killed());  // nothing to kill yet
  killer.Arm(child.pidfd());
  const int status = child.Reap();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(killer.killed());
}

TEST(AuditFailureKillerTest, DenyPolicyAndDisarmedKillerLeaveTheSandboxRunning) {
  PausedChild child;
  ASSERT_TRUE(child.ok());
  AuditFailureKiller deny;
  deny.Arm(child.pidfd());
  deny.Callback()(absl::DataLossError("x"), audit::OnWriteFailure::kDenyRequests);
  EXPECT_FALSE(deny.killed());
  AuditFailureKiller disarmed;
  disarmed.Arm(child.pidfd());
  disarmed.Disarm();
  disarmed.Callback()(absl::DataLossError("x"), audit::OnWriteFailure::kKillPlugins);
  EXPECT_FALSE(disarmed.killed());
  // A SIGKILL sent earlier would take effect first (the kernel marks the process dying when
  // it is sent), so dying of this SIGTERM shows none was.
  const int status = child.Terminate();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
}

// The batch flusher's failed fdatasync reaches the sandbox with no record appended after it:
// nothing else would notice while the program makes no audited call.
TEST(AuditFailureKillerTest, FlusherFsyncFailureKillsWithoutAnotherAppend) {
  PausedChild child;
  ASSERT_TRUE(child.ok());
  char dir_template[] = "/tmp/cordon-killer-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  absl::Cleanup remove_dir = [&] { std::filesystem::remove_all(dir_template); };
  AuditFailureKiller killer;
  std::atomic<bool> fail{false};
  audit::AuditLogOptions options;
  options.path = std::string(dir_template) + "/audit.jsonl";
  options.batch_interval = absl::Milliseconds(20);
  options.on_failure_callback = killer.Callback();
  options.fdatasync_for_testing = [&fail](int fd) {
    if (fail) {
      errno = EIO;
      return -1;
    }
    return fdatasync(fd);
  };
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.status();
  killer.Arm(child.pidfd());
  fail = true;
  ASSERT_TRUE((*log)->Append(audit::AuditRecord("plugin.start")).ok());
  // Blocks until the flusher's sync fails and the callback kills the child (the test's
  // timeout is the safety net if it never does).
  const int status = child.Reap();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(killer.killed());
  EXPECT_NE(killer.detail().find("fdatasync failed"), std::string::npos) << killer.detail();
  killer.Disarm();
}

}  // namespace
}  // namespace cordon::cli
