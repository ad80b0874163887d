// Where a quota comes from: the profile sets it, a `cordon run` flag overrides it, and a flag
// that has nothing to act on is an error that says so, never silently ignored.
#include <string>

#include "tests/integration/temp_dir.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

using ::testing::HasSubstr;

const audit::JsonValue* Quota(const RunResult& r, const std::string& name) {
  for (const audit::JsonValue* q : r.Records("quota.violation")) {
    if (StringField(*q, "quota") == name) return q;
  }
  return nullptr;
}

RunResult RunWith(std::vector<std::string> args, uint64_t outer_pids = 256) {
  RunOptions options;
  options.args = std::move(args);
  options.timeout = absl::Seconds(30);
  options.outer.pids = outer_pids;
  return CordonRunner::Run(options);
}

class QuotaSettingsTest : public ::testing::Test {
 protected:
  // The default profile with pids 12 instead of 64.
  void SetUp() override {
    pids_profile_ = EditedProfile(dir_, "default", {{"pids: 64", "pids: 12"}});
    ASSERT_FALSE(pids_profile_.empty());
  }
  TempDir dir_;
  std::string pids_profile_;
};

// A fork bomb run under `pids` tasks: the init and the bomb count, so at most pids - 2 forks
// succeed, the next fails with EAGAIN, and the record names the limit.
void ExpectForkBombStoppedAt(const RunResult& r, int pids) {
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Field("forks", "errno"), "EAGAIN") << r.out;
  ASSERT_FALSE(r.Field("forks", "made").empty()) << r.out;
  EXPECT_LE(std::stoi(r.Field("forks", "made")), pids - 2);
  const audit::JsonValue* q = Quota(r, "pids");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(IntField(*q, "limit"), pids);
  ExpectNoLeftovers(r);
}

TEST_F(QuotaSettingsTest, ProfilePidsLimitIsEnforcedWithoutAFlag) {
  ExpectForkBombStoppedAt(RunWith({"--profile", pids_profile_, "--",
                                   CordonRunner::Probe("quota_bomb"), "forks", "2000"},
                                  64),
                          12);
}

TEST_F(QuotaSettingsTest, PidsFlagOverridesTheProfile) {
  ExpectForkBombStoppedAt(RunWith({"--profile", pids_profile_, "--pids", "6", "--",
                                   CordonRunner::Probe("quota_bomb"), "forks", "2000"},
                                  64),
                          6);
}

// RLIMIT_NOFILE is the exact limit: fds 0..N-1 can be had, fd N cannot.
TEST_F(QuotaSettingsTest, ProfileOpenFilesLimitIsExact) {
  // The default profile says open_files: 256.
  RunResult r = RunWith({"--", CordonRunner::Probe("quota_bomb"), "fds", "100000"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Field("fds", "errno"), "EMFILE") << r.out;
  EXPECT_EQ(r.Field("fds", "highest"), "255") << r.out;
  ExpectNoLeftovers(r);
}

TEST_F(QuotaSettingsTest, OpenFilesFlagOverridesTheProfileExactly) {
  RunResult r =
      RunWith({"--open-files", "32", "--", CordonRunner::Probe("quota_bomb"), "fds", "100000"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Field("fds", "errno"), "EMFILE") << r.out;
  EXPECT_EQ(r.Field("fds", "highest"), "31") << r.out;
  ExpectNoLeftovers(r);
}

TEST_F(QuotaSettingsTest, TmpSizeWithoutATmpTmpfsIs125NamingTheFlagAndTheFix) {
  const std::string no_tmp = EditedProfile(
      dir_, "default", {{"mounts { type: TMPFS destination: \"/tmp\" size_bytes: 67108864 }", ""}});
  ASSERT_FALSE(no_tmp.empty());
  RunResult r = RunWith({"--profile", no_tmp, "--tmp-size", "8M", "--", "/bin/true"});
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("--tmp-size: profile 'default' mounts no tmpfs at /tmp"));
  EXPECT_THAT(r.err, HasSubstr("TMPFS destination"));
  EXPECT_EQ(r.Record("plugin.start"), nullptr) << "nothing may run";
  // The same profile without the flag runs.
  EXPECT_EQ(RunWith({"--profile", no_tmp, "--", "/bin/true"}).exit_status, 0);
}

}  // namespace
}  // namespace cordon::integration
