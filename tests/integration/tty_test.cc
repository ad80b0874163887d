// No controlling terminal reaches the program, even when cordon runs on one; TIOCSTI is
// refused by seccomp, also when the ioctl number carries garbage in its upper 32 bits.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

class TtyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    ASSERT_GE(master_, 0);
    ASSERT_EQ(grantpt(master_), 0);
    ASSERT_EQ(unlockpt(master_), 0);
    slave_ = open(ptsname(master_), O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_GE(slave_, 0);
    // Raw mode: a single injected byte would be readable at once.
    struct termios raw;
    ASSERT_EQ(tcgetattr(slave_, &raw), 0);
    cfmakeraw(&raw);
    ASSERT_EQ(tcsetattr(slave_, TCSANOW, &raw), 0);
  }
  void TearDown() override {
    close(slave_);
    close(master_);
  }
  // cordon with the pty slave as stdin and as its controlling terminal.
  RunResult RunOnTty(std::vector<std::string> args) {
    RunOptions options;
    options.args = std::move(args);
    options.stdin_fd = slave_;
    options.stdin_is_ctty = true;
    return CordonRunner::Run(options);
  }
  int master_ = -1;
  int slave_ = -1;
};

TEST_F(TtyTest, ProgramHasNoControllingTerminal) {
  RunResult r = RunOnTty({"--", CordonRunner::Probe("sandbox_probe"), "tty"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  // No /dev/tty node, and fd 0 (the pty) is not its controlling terminal: TIOCGPGRP on a
  // tty that is not the caller's controlling terminal is ENOTTY.
  EXPECT_EQ(r.Line("open /dev/tty"), "open /dev/tty ret=-1 errno=ENOENT");
  EXPECT_EQ(r.Line("tiocgpgrp 0"), "tiocgpgrp 0 ret=-1 errno=ENOTTY") << r.out;
}

TEST_F(TtyTest, TiocstiRefusedAlsoWithHighBits) {
  RunResult r = RunOnTty({"--", CordonRunner::Probe("syscall_probe"), "ioctl_tiocsti",
                          "ioctl_tiocsti_highbits", "ioctl_tioclinux"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("ioctl_tiocsti"), "ioctl_tiocsti ret=-1 errno=EPERM");
  EXPECT_EQ(r.Line("ioctl_tiocsti_highbits"), "ioctl_tiocsti_highbits ret=-1 errno=EPERM");
  EXPECT_EQ(r.Line("ioctl_tioclinux"), "ioctl_tioclinux ret=-1 errno=EPERM");
  std::vector<const audit::JsonValue*> ioctls = ViolationsFor(r, "ioctl");
  ASSERT_EQ(ioctls.size(), 3u) << r.Describe();
  EXPECT_EQ(ViolationArg(*ioctls[0], 1), 0x5412u);
  EXPECT_EQ(ViolationArg(*ioctls[1], 1), 0xffffffff00005412ull);
  EXPECT_EQ(ViolationArg(*ioctls[2], 1), 0x541cu);
  for (const audit::JsonValue* v : ioctls) EXPECT_EQ(StringField(*v, "action"), "eperm");
  // Nothing was pushed into the terminal's input queue.
  int pending = -1;
  ASSERT_EQ(ioctl(slave_, FIONREAD, &pending), 0);
  EXPECT_EQ(pending, 0);
}

TEST_F(TtyTest, HarmlessIoctlStillWorks) {
  RunResult r = RunOnTty({"--", CordonRunner::Probe("syscall_probe"), "ioctl_fionread"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("ioctl_fionread"), "ioctl_fionread ret=0 errno=0");
  EXPECT_TRUE(ViolationsFor(r, "ioctl").empty());
}

}  // namespace
}  // namespace cordon::integration
