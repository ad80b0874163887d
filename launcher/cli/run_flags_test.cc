#include "launcher/cli/run_flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RunFlagsTest, ParsesEveryFlagAndStopsAtProgram) {
  absl::StatusOr<RunFlags> flags = RunFlags::Parse(
      {"--profile", "minimal", "--audit-log=/tmp/a.jsonl", "--ro-bind", "/srv:/data", "--bind",
       "/var/x", "--env", "A=b", "--memory", "64M", "--pids", "8", "--wall-time", "500ms",
       "--cpu-time", "3", "--file-size", "1k", "/bin/echo", "--not-a-flag"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->profile, "minimal");
  EXPECT_EQ(flags->audit.path(), "/tmp/a.jsonl");
  ASSERT_EQ(flags->binds.size(), 2u);
  EXPECT_EQ(flags->binds[0].source, "/srv");
  EXPECT_EQ(flags->binds[0].destination, "/data");
  EXPECT_FALSE(flags->binds[0].writable);
  EXPECT_EQ(flags->binds[1].destination, "/var/x");
  EXPECT_TRUE(flags->binds[1].writable);
  EXPECT_THAT(flags->env, ElementsAre("A=b"));
  EXPECT_EQ(*flags->quotas.memory_bytes, 64u << 20);
  EXPECT_EQ(*flags->quotas.pids, 8u);
  EXPECT_EQ(*flags->quotas.wall_time_ms, 500u);
  EXPECT_EQ(*flags->quotas.cpu_time_seconds, 3u);
  EXPECT_EQ(*flags->quotas.file_size_bytes, 1024u);
  EXPECT_THAT(flags->command, ElementsAre("/bin/echo", "--not-a-flag"));
}

TEST(RunFlagsTest, DoubleDashEndsOptions) {
  absl::StatusOr<RunFlags> flags = RunFlags::Parse({"--", "--profile"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(flags->command, ElementsAre("--profile"));
}

TEST(RunFlagsTest, ErrorsNameTheFlagAndTheFix) {
  EXPECT_THAT(RunFlags::Parse({"--bogus", "x"}).status().message(), HasSubstr("--bogus"));
  EXPECT_THAT(RunFlags::Parse({"--ro-bind", "relative", "/bin/true"}).status().message(),
              HasSubstr("absolute"));
  EXPECT_THAT(RunFlags::Parse({"--env", "NOEQUALS", "/bin/true"}).status().message(),
              HasSubstr("KEY=VALUE"));
  EXPECT_THAT(RunFlags::Parse({"--memory", "12Q", "/bin/true"}).status().message(),
              HasSubstr("unknown unit"));
  EXPECT_THAT(RunFlags::Parse({"--pids", "0", "/bin/true"}).status().message(),
              HasSubstr("positive"));
  EXPECT_THAT(RunFlags::Parse({"--profile"}).status().message(), HasSubstr("needs a value"));
  EXPECT_THAT(RunFlags::Parse({}).status().message(), HasSubstr("no PROGRAM"));
}

TEST(RunFlagsTest, SizesAndDurations) {
  EXPECT_EQ(*ParseByteSize("--x", "1G"), 1ull << 30);
  EXPECT_EQ(*ParseByteSize("--x", "17"), 17u);
  EXPECT_FALSE(ParseByteSize("--x", "99999999999999999999G").ok());
  EXPECT_EQ(*ParseDurationMs("--x", "2m"), 120000u);
  EXPECT_EQ(*ParseDurationMs("--x", "5"), 5000u);
  EXPECT_FALSE(ParseDurationMs("--x", "ms").ok());
}

TEST(RunFlagsTest, HelpWins) {
  absl::StatusOr<RunFlags> flags = RunFlags::Parse({"--help"});
  ASSERT_TRUE(flags.ok());
  EXPECT_TRUE(flags->help);
  EXPECT_THAT(std::string(RunFlags::Usage()), HasSubstr("--ro-bind"));
}

}  // namespace
}  // namespace cordon::cli
