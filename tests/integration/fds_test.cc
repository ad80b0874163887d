// Only fds 0, 1 and 2 reach the program, even when the caller of `cordon run` leaks
// non-CLOEXEC fds to a secret file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/integration/temp_dir.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

using ::testing::SizeIs;

class FdsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    secret_ = dir_.Write("secret.txt", "LEAKED-FD-SECRET\n", 0644);
    ASSERT_FALSE(secret_.empty());
    fd_ = open(secret_.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
  }
  RunOptions Options(std::initializer_list<std::string> probe_args) const {
    RunOptions options;
    if (GetParam()) options.args = {"--profile", "minimal"};
    options.args.push_back("--");
    options.args.push_back(CordonRunner::Probe("sandbox_probe", GetParam()));
    options.args.insert(options.args.end(), probe_args);
    // Low, middle and high fd numbers, all without CLOEXEC in cordon.
    options.leak_fds = {{fd_, 3}, {fd_, 5}, {fd_, 63}, {fd_, 1000}};
    return options;
  }
  TempDir dir_;
  std::string secret_;
  int fd_ = -1;
};

TEST_P(FdsTest, OnlyStandardFdsReachTheProgram) {
  RunResult r = CordonRunner::Run(Options({"fds"}));
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  std::vector<std::string> fds = r.Lines("fd ");
  ASSERT_THAT(fds, SizeIs(3)) << r.out;
  EXPECT_TRUE(absl::StartsWith(fds[0], "fd 0 ")) << fds[0];
  EXPECT_TRUE(absl::StartsWith(fds[1], "fd 1 pipe:")) << fds[1];
  EXPECT_TRUE(absl::StartsWith(fds[2], "fd 2 pipe:")) << fds[2];
  EXPECT_FALSE(absl::StrContains(r.out, secret_));
}

TEST_P(FdsTest, LeakedFdsCannotBeOpenedThroughProc) {
  RunResult r = CordonRunner::Run(Options({"open", "/proc/self/fd/3", "/proc/self/fd/5",
                                           "/proc/self/fd/63", "/proc/self/fd/1000", "/dev/fd/5"}));
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_FALSE(absl::StrContains(r.out, "LEAKED-FD-SECRET")) << r.out;
  for (const std::string fd : {"3", "5", "63", "1000"}) {
    EXPECT_EQ(r.Line("open /proc/self/fd/" + fd),
              "open /proc/self/fd/" + fd + " ret=-1 errno=ENOENT");
  }
}

// A #! script outside the mount tree is still run (it is bound read-only into the sandbox),
// but nothing the interpreter holds may lead back to the writable host file: here anyone
// may write it, so only the mount's read-only flag stands in the way.
TEST(ScriptProgram, ExecFdGivesNoWayToWriteTheHostScript) {
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  const std::string original =
      "#!/bin/sh\n"
      "for fd in 3 4 5 6 7 8 9 10 11; do\n"
      "  (echo INJECTED >> /proc/self/fd/$fd) 2>/dev/null\n"
      "  (echo INJECTED >> /proc/$$/fd/$fd) 2>/dev/null\n"
      "done\n"
      "echo script-ran\n"
      "exit 0\n";
  const std::string script = dir.Write("script.sh", original, 0777);
  ASSERT_FALSE(script.empty());
  RunResult r = RunCordon({"--", script});
  EXPECT_TRUE(absl::StrContains(r.out, "script-ran")) << r.Describe();
  std::ifstream in(script);
  std::stringstream content;
  content << in.rdbuf();
  // The script is bound read-only and executed by path, so neither the interpreter's fd to it
  // nor any other fd leads back to the writable host file.
  EXPECT_EQ(content.str(), original) << "the script wrote to its host file";
  EXPECT_EQ(r.exit_status, 0) << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(DynamicAndStatic, FdsTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Static" : "Dynamic"; });

}  // namespace
}  // namespace cordon::integration
