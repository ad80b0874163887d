// `cordon profile learn` end to end: a real program runs with its extra syscalls recorded, and
// the printed profile, used for real, no longer denies them.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/temp_dir.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

RunResult Learn(std::vector<std::string> args) {
  RunOptions options;
  options.subcommand = {"profile", "learn"};
  options.args = std::move(args);
  options.audit = false;
  return CordonRunner::Run(options);
}

// stdout is the learned profile and nothing else (the program's output goes to stderr), so
// `cordon profile learn -- prog > p.textproto` works: the whole of it must be the profile.
std::string ProfileText(const std::string& out) {
  EXPECT_TRUE(absl::StartsWith(out, "# Learned by `cordon profile learn`"))
      << "stdout holds more than the profile:\n"
      << out;
  return out;
}

RunResult CheckProfile(const std::string& path) {
  RunOptions options;
  options.subcommand = {"profile", "check"};
  options.args = {path};
  options.audit = false;
  return CordonRunner::Run(options);
}

TEST(Learn, LearnedProfileAllowsWhatTheProgramUsedAndExplainsTheRest) {
  const std::string probe = CordonRunner::Probe("syscall_probe", /*is_static=*/true);
  // Under the base profile, setdomainname is a seccomp violation.
  RunResult before = RunCordon({"--profile", "minimal", "--", probe, "setdomainname"});
  ASSERT_EQ(before.Records("seccomp.violation").size(), 1u) << before.Describe();

  RunResult learned = Learn({"--profile", "minimal", "--", probe, "setdomainname", "keyctl"});
  ASSERT_EQ(learned.exit_status, 0) << learned.Describe();
  EXPECT_THAT(learned.err, HasSubstr("UNSAFE FOR UNTRUSTED CODE"));
  EXPECT_THAT(learned.err, HasSubstr("setdomainname ret=")) << "the probe's own output";
  const std::string profile = ProfileText(learned.out);
  ASSERT_FALSE(profile.empty()) << learned.Describe();
  EXPECT_THAT(profile, HasSubstr("allow: \"setdomainname\""));
  EXPECT_THAT(profile, HasSubstr("keyctl (x1): never allowed by cordon"));
  EXPECT_THAT(profile, Not(HasSubstr("allow: \"keyctl\"")));
  EXPECT_THAT(profile, HasSubstr("name: \"minimal-learned\""));

  // The printed profile is valid and, used for real, no longer denies the learned call (the
  // kernel may still refuse it for lack of a capability: that is not cordon's doing).
  TempDir dir;
  const std::string path = dir.Write("learned.textproto", profile);
  RunResult after = RunCordon({"--profile", path, "--", probe, "setdomainname", "keyctl"});
  EXPECT_EQ(after.exit_status, 0) << after.Describe();
  std::vector<const audit::JsonValue*> violations = after.Records("seccomp.violation");
  ASSERT_EQ(violations.size(), 1u) << after.Describe();
  EXPECT_EQ(StringField(*violations[0], "syscall"), "keyctl");
  ExpectNoLeftovers(after);
}

TEST(Learn, StdoutIsOnlyTheProfileWhenTheProgramPrints) {
  RunResult learned = Learn({"--", "/bin/echo", "hello from the program"});
  ASSERT_EQ(learned.exit_status, 0) << learned.Describe();
  EXPECT_THAT(learned.err, HasSubstr("hello from the program")) << "the program's stdout is lost";
  EXPECT_THAT(learned.out, Not(HasSubstr("hello from the program")));
  TempDir dir;
  const std::string path = dir.Write("learned.textproto", ProfileText(learned.out));
  RunResult checked = CheckProfile(path);
  EXPECT_EQ(checked.exit_status, 0) << checked.Describe();
}

TEST(Learn, ForeignAbiCallsAreStillKilledAndNamedAsSuch) {
  const std::string probe = CordonRunner::Probe("syscall_probe", /*is_static=*/true);
  RunResult learned = Learn({"--profile", "minimal", "--", probe, "x32"});
  ASSERT_EQ(learned.exit_status, 0) << learned.Describe();
  // The x32 getpid never returned: the program was killed, even in learn mode.
  EXPECT_EQ(learned.Line("x32"), "") << learned.Describe();
  EXPECT_THAT(learned.err, HasSubstr("exited with status 137")) << learned.Describe();
  const std::string profile = ProfileText(learned.out);
  EXPECT_THAT(profile, HasSubstr("getpid (x32) x1: a foreign ABI"));
  EXPECT_THAT(profile, HasSubstr("allows 0 more syscall(s)"));
}

TEST(Learn, RefusesAMissingProgramAndUnknownFlags) {
  RunResult none = Learn({"--profile", "minimal"});
  EXPECT_NE(none.exit_status, 0);
  EXPECT_THAT(none.err, HasSubstr("no PROGRAM given"));
  RunResult bad = Learn({"--bogus", "--", "/bin/true"});
  EXPECT_NE(bad.exit_status, 0);
  EXPECT_THAT(bad.err, HasSubstr("unknown option '--bogus'"));
}

}  // namespace
}  // namespace cordon::integration
