// The program starts with a clean environment (the profile's plus --env), in the profile's
// working directory: nothing of the caller's environment leaks in.
#include <stdlib.h>

#include <string>
#include <vector>

#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

using ::testing::UnorderedElementsAre;

// The environment lines the probe printed. A sanitizer build of cordon adds
// ASAN_OPTIONS=detect_leaks=0 for its (sanitizer-built) plugins; that one is not the caller's.
std::vector<std::string> EnvLines(const RunResult& r) {
  std::vector<std::string> lines = r.Lines("env ");
  std::erase_if(lines, [](const std::string& line) {
    return line == "env ASAN_OPTIONS=detect_leaks=0";
  });
  return lines;
}

TEST(Environment, CleanProfileEnvironmentPlusFlags) {
  setenv("CORDON_INTEG_SECRET", "caller-secret", 1);
  setenv("LD_PRELOAD", "/tmp/cordon-integ-evil.so", 1);
  RunResult r = RunCordon({"--env", "EXTRA=1", "--env", "HOME=/data", "--",
                           CordonRunner::Probe("sandbox_probe"), "env"});
  unsetenv("CORDON_INTEG_SECRET");
  unsetenv("LD_PRELOAD");
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_THAT(EnvLines(r),
              UnorderedElementsAre("env PATH=/usr/local/bin:/usr/bin:/bin", "env HOME=/data",
                                   "env LANG=C.UTF-8", "env EXTRA=1"));
  EXPECT_FALSE(absl::StrContains(r.out, "caller-secret"));
}

TEST(Environment, MinimalProfileEnvironmentAndWorkdir) {
  RunResult r =
      RunCordon({"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe", true), "env"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_THAT(EnvLines(r), UnorderedElementsAre("env HOME=/tmp"));
  RunResult cwd =
      RunCordon({"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe", true), "cwd"});
  EXPECT_EQ(cwd.Line("cwd"), "cwd /") << cwd.Describe();
}

TEST(Environment, StdioPassesThrough) {
  RunOptions options;
  options.stdin_data = "line one\nline two\n";
  options.args = {"--", "/bin/sh", "-c", "cat; echo to-stderr >&2"};
  RunResult r = CordonRunner::Run(options);
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.out, "line one\nline two\n");
  EXPECT_EQ(r.err, "to-stderr\n");
}

}  // namespace
}  // namespace cordon::integration
