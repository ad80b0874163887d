// The Landlock ruleset on its own, in a forked child (it cannot be undone): reads below "/"
// work, writes only below the writable paths, and an fd opened before the ruleset keeps its
// access but cannot be reopened with more through /proc/self/fd. Runs as root, so the mode
// bits never refuse anything and every EACCES below is Landlock's.
#include "launcher/sandbox/landlock_rules.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cordon::sandbox {
namespace {

namespace fs = std::filesystem;

class LandlockRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (LandlockAbi() < 1) GTEST_SKIP() << "this kernel has no Landlock";
    char pattern[] = "/tmp/cordon-landlock-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ + "/writable");
    fs::create_directories(dir_ + "/readable");
    fs::create_directories(dir_ + "/other");
    std::ofstream(dir_ + "/readable/file") << "readable";
    std::ofstream(dir_ + "/other/file") << "host file";
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Runs `body` in a child under the ruleset; the child's exit code is the first failed
  // check's number (0: all passed).
  template <typename Body>
  int RunConfined(Body body) {
    pid_t pid = fork();
    if (pid == 0) {
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
      // The test's "sandbox root" is dir_/readable; the rest of the host plays the files
      // outside the sandbox that a plugin may hold fds to.
      std::string writable = dir_ + "/writable";
      std::string readable = dir_ + "/readable";
      const char* paths[] = {writable.c_str(), "/nonexistent-is-skipped"};
      if (ApplyLandlock(LandlockAbi(), readable.c_str(), paths, 2, -1) != 0) _exit(101);
      _exit(body());
    }
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
  }

  std::string dir_;
};

bool Refused(int fd) { return fd < 0 && errno == EACCES; }

TEST_F(LandlockRulesTest, ReadsBelowTheRootWritesOnlyBelowWritablePaths) {
  const std::string other = dir_ + "/other/file";
  const std::string created = dir_ + "/writable/new";
  int code = RunConfined([&]() -> int {
    if (open((dir_ + "/readable/file").c_str(), O_RDONLY | O_CLOEXEC) < 0) return 1;
    if (!Refused(open((dir_ + "/readable/file").c_str(), O_WRONLY | O_CLOEXEC))) return 8;
    if (!Refused(open(other.c_str(), O_RDONLY | O_CLOEXEC))) return 9;
    if (!Refused(open(other.c_str(), O_WRONLY | O_CLOEXEC))) return 2;
    if (!Refused(open(other.c_str(), O_RDONLY | O_TRUNC | O_CLOEXEC))) return 3;
    if (!Refused(open((dir_ + "/other/new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600))) {
      return 4;
    }
    if (unlink(other.c_str()) == 0 || errno != EACCES) return 5;
    int fd = open(created.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "x", 1) != 1) return 6;
    if (mkdir((dir_ + "/writable/sub").c_str(), 0700) != 0) return 7;
    return 0;
  });
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(fs::exists(created));
  std::ifstream in(other);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "host file");
}

// The hole this closes: a read-only fd handed in (as the broker does) reopened for writing
// through its magic link. Without the ruleset root (and a sandbox uid, for a 0666 file)
// would get a writable fd here.
TEST_F(LandlockRulesTest, InheritedReadOnlyFdCannotBeReopenedForWriting) {
  const std::string other = dir_ + "/other/file";
  int read_only = open(other.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(read_only, 0);
  int write_only = open(other.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(write_only, 0);
  int code = RunConfined([&]() -> int {
    std::string ro_link = absl::StrCat("/proc/self/fd/", read_only);
    std::string wo_link = absl::StrCat("/proc/self/fd/", write_only);
    if (!Refused(open(ro_link.c_str(), O_RDWR | O_CLOEXEC))) return 1;
    if (!Refused(open(ro_link.c_str(), O_WRONLY | O_CLOEXEC))) return 2;
    // A write-only fd does not become readable either.
    if (!Refused(open(wo_link.c_str(), O_RDONLY | O_CLOEXEC))) return 3;
    // The fds themselves keep the access they were opened with.
    char byte;
    if (pread(read_only, &byte, 1, 0) != 1) return 4;
    if (write(write_only, "+", 1) != 1) return 5;
    return 0;
  });
  close(read_only);
  close(write_only);
  EXPECT_EQ(code, 0);
  std::ifstream in(other);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "host file+");
}

TEST_F(LandlockRulesTest, HandledRightsGrowWithTheAbiButNeverIncludeExecute) {
  EXPECT_EQ(LandlockHandledAccess(0), 0u);
  uint64_t v1 = LandlockHandledAccess(1);
  uint64_t v3 = LandlockHandledAccess(3);
  EXPECT_NE(v1, 0u);
  EXPECT_EQ(v1 & v3, v1);
  EXPECT_NE(v1, v3);
  EXPECT_EQ(v3 & 1u, 0u) << "LANDLOCK_ACCESS_FS_EXECUTE must stay unhandled";
  EXPECT_EQ(LandlockReadAccess() & ~v1, 0u);
}

}  // namespace
}  // namespace cordon::sandbox
