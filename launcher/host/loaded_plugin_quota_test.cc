// Quotas of a loaded plugin as `cordon run` has them: a full /tmp is recorded while the plugin
// runs and its tmpfs let go once it has exited, a launcher kill near the CPU time limit is not
// taken for a cpu_time kill, and a quota record carries the backend's detail.
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/host/loaded_plugin.h"
#include "launcher/host/testing/host_test_support.h"
#include "sandbox-profiles/profile_loader.h"
#include "tests/integration/temp_dir.h"

namespace cordon::host {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing_util::AuditTrail;
using testing_util::BundleFactory;
using testing_util::Field;
using testing_util::StateLog;

// An uncommon size, so the sandbox's /tmp is told apart from every other tmpfs by its size.
constexpr uint64_t kTmpSize = 3 * 1024 * 1024 + 64 * 1024;

// The default profile with `edits` (from, to) applied: each must match.
std::string DefaultProfileWith(const integration::TempDir& dir,
                               const std::vector<std::pair<std::string, std::string>>& edits) {
  absl::StatusOr<std::string> path = profiles::ProfileLoader::Resolve("default");
  EXPECT_TRUE(path.ok()) << path.status();
  if (!path.ok()) return "";
  std::ifstream in(*path);
  std::stringstream text;
  text << in.rdbuf();
  std::string profile = text.str();
  for (const auto& [from, to] : edits) {
    EXPECT_TRUE(absl::StrContains(profile, from)) << "default profile lacks: " << from;
    profile = absl::StrReplaceAll(profile, {{from, to}});
  }
  return dir.Write("profile.textproto", profile);
}

// The fds of this process on a tmpfs of the sandbox /tmp's size.
int SandboxTmpFds() {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &fd)) continue;
    struct statfs fs {};
    if (fstatfs(fd, &fs) != 0 || fs.f_type != TMPFS_MAGIC) continue;
    if (static_cast<uint64_t>(fs.f_blocks) * static_cast<uint64_t>(fs.f_bsize) == kTmpSize) {
      ++count;
    }
  }
  return count;
}

std::vector<audit::JsonValue> QuotaRecords(AuditTrail& trail, const std::string& quota) {
  std::vector<audit::JsonValue> out;
  for (audit::JsonValue& r : trail.Records()) {
    if (Field(r, "type") == "quota.violation" && Field(r, "quota") == quota) {
      out.push_back(std::move(r));
    }
  }
  return out;
}

TEST(LoadedPluginQuotaTest, FullTmpIsRecordedWhileItRunsAndItsTmpfsFreedAtExit) {
  integration::TempDir dir;
  BundleFactory bundles;
  AuditTrail trail;
  LoadRequest request;
  request.bundle_dir = bundles.Make("fills", "misbehaving", {});
  request.profile = DefaultProfileWith(
      dir, {{"size_bytes: 67108864 }", absl::StrCat("size_bytes: ", kTmpSize, " }")}});
  request.audit_log = trail.log();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  // Held while it runs: the watch looks through it (and the test can see such an fd).
  EXPECT_GE(SandboxTmpFds(), 1);

  absl::StatusOr<std::string> filled = (*plugin)->Call("fill_tmp", "");
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_THAT(*filled, HasSubstr("filled "));
  // The supervisor's once-a-second look finds it while the plugin runs on; the deadline is
  // only a safety net.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (QuotaRecords(trail, "tmp_size").empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::vector<audit::JsonValue> full = QuotaRecords(trail, "tmp_size");
  ASSERT_EQ(full.size(), 1u) << "no quota.violation{tmp_size} for a loaded plugin";
  EXPECT_EQ((*plugin)->state(), PluginState::kReady);
  EXPECT_EQ(Field(full[0], "action"), "denied");
  int64_t limit = 0;
  ASSERT_NE(full[0].Find("limit"), nullptr);
  full[0].Find("limit")->ToInt64(&limit);
  EXPECT_EQ(static_cast<uint64_t>(limit), kTmpSize);

  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  // Exited, the entry still loaded: nothing of ours pins its tmpfs any more.
  EXPECT_EQ(SandboxTmpFds(), 0) << "the dead plugin's /tmp is still held open";
  EXPECT_EQ(QuotaRecords(trail, "tmp_size").size(), 1u) << "recorded once per plugin";
}

TEST(LoadedPluginQuotaTest, SeccompKillNearTheCpuLimitIsNotACpuTimeKill) {
  integration::TempDir dir;
  BundleFactory bundles;
  AuditTrail trail;
  StateLog states;
  LoadRequest request;
  request.bundle_dir =
      bundles.Make("burns", "misbehaving", {}, "",
                   "call_timeout_ms: 20000 handshake_timeout_ms: 5000 cpu_time_seconds: 1");
  request.profile = DefaultProfileWith(dir, {{"on_violation: ERRNO_EPERM", "on_violation: KILL"}});
  request.audit_log = trail.log();
  request.on_state_change = states.Observer();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  // The plugin's own CPU time reaches 650 ms before it answers: within the 500 ms that make
  // a SIGKILL death count as RLIMIT_CPU's hard limit (PluginQuotas::Collect), and clear of
  // the 1 s soft limit (SIGXCPU). plugin.exit's cpu_ms shows it although the init never reaped
  // the program (the whole sandbox was killed): it is the cgroup's exact accounting.
  ASSERT_EQ((*plugin)->Call("burn", "650").value_or(""), "burnt");
  EXPECT_FALSE((*plugin)->Call("keyctl", "").ok());
  ASSERT_TRUE(states.Wait(PluginState::kFailed));

  EXPECT_TRUE(QuotaRecords(trail, "cpu_time").empty()) << "a seccomp kill taken for cpu_time";
  audit::JsonValue exit = trail.First("plugin.exit");
  EXPECT_THAT(Field(exit, "reason"), HasSubstr("seccomp violation: keyctl"));
  if (geteuid() == 0) {  // a cgroup to account it
    int64_t cpu_ms = 0;
    ASSERT_TRUE(exit.Find("cpu_ms") != nullptr && exit.Find("cpu_ms")->ToInt64(&cpu_ms));
    EXPECT_GE(cpu_ms, 600) << "the burnt CPU time is missing from plugin.exit";
  }
  EXPECT_EQ(Field(trail.First("seccomp.violation"), "action"), "kill");
  EXPECT_THAT(states.failure(), HasSubstr("seccomp violation: keyctl"));
}

// The cgroup's throttling detail reaches the record, as in `cordon run`.
TEST(LoadedPluginQuotaTest, CpuRateRecordCarriesTheThrottlingDetail) {
  integration::TempDir dir;
  BundleFactory bundles;
  AuditTrail trail;
  LoadRequest request;
  request.bundle_dir = bundles.Make("throttled", "misbehaving", {}, "",
                                    "call_timeout_ms: 20000 handshake_timeout_ms: 5000");
  request.profile = DefaultProfileWith(
      dir, {{"  cpu_time_seconds: 60", "  cpu_time_seconds: 60\n  cpu_rate_percent: 20"}});
  request.audit_log = trail.log();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  if (Field(trail.First("plugin.spawn"), "quota_backend") == "rlimits") {
    GTEST_SKIP() << "no cgroup here: cpu_rate cannot be enforced, so it has no record";
  }
  ASSERT_TRUE((*plugin)->Call("burn", "250").ok());
  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  std::vector<audit::JsonValue> rate = QuotaRecords(trail, "cpu_rate");
  ASSERT_EQ(rate.size(), 1u);
  EXPECT_THAT(Field(rate[0], "detail"),
              MatchesRegex("throttled in [0-9]+ periods of 100 ms, [0-9]+ ms in total"));
}

}  // namespace
}  // namespace cordon::host
