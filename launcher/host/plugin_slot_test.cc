// Upgrades of real sandboxed plugins (testing/versioned_plugin.cc plays every version). Needs
// root to sandbox them, as CI is.
#include "launcher/host/plugin_slot.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/audit_log.h"
#include "audit/audit_verifier.h"
#include "audit/json_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::host {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

bool ProcessGone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

TEST(CompareSemanticVersionsTest, FollowsSemverPrecedence) {
  // Each is lower than the next (the semver.org §11 example, plus numeric and length cases).
  const std::vector<std::string> ordered = {"0.9.9",
                                            "1.0.0-alpha",
                                            "1.0.0-alpha.1",
                                            "1.0.0-alpha.beta",
                                            "1.0.0-beta",
                                            "1.0.0-beta.2",
                                            "1.0.0-beta.11",
                                            "1.0.0-rc.1",
                                            "1.0.0",
                                            "1.0.1",
                                            "1.2.0",
                                            "1.10.0",
                                            "2.0.0",
                                            "10.0.0",
                                            "99999999999999999999.0.0"};
  for (size_t i = 0; i < ordered.size(); ++i) {
    for (size_t j = 0; j < ordered.size(); ++j) {
      absl::StatusOr<int> c = CompareSemanticVersions(ordered[i], ordered[j]);
      ASSERT_TRUE(c.ok()) << c.status();
      EXPECT_EQ(*c < 0, i < j) << ordered[i] << " vs " << ordered[j];
      EXPECT_EQ(*c == 0, i == j) << ordered[i] << " vs " << ordered[j];
    }
  }
}

TEST(CompareSemanticVersionsTest, IgnoresBuildMetadataAndRejectsNonVersions) {
  absl::StatusOr<int> c = CompareSemanticVersions("1.2.3+build.7", "1.2.3+build.8");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 0);
  absl::StatusOr<int> bad = CompareSemanticVersions("1.2", "1.2.3");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'1.2'"));
  EXPECT_FALSE(CompareSemanticVersions("1.2.3", "v1.2.4").ok());
}

class PluginSlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to sandbox the plugins";
    std::string base = absl::StrCat(
        getenv("CORDON_BUILD_DIR") ? getenv("CORDON_BUILD_DIR") : "/tmp", "/slot-test-XXXXXX");
    std::vector<char> tmpl(base.begin(), base.end());
    tmpl.push_back('\0');
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl.data();
    chmod(root_.c_str(), 0755);
    audit::AuditLogOptions options;
    options.path = root_ + "/audit.jsonl";
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(options);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
    // The default profile, plus the one host function the "gate" method calls.
    std::ifstream in(absl::StrCat(getenv("CORDON_SOURCE_DIR") ? getenv("CORDON_SOURCE_DIR") : ".",
                                  "/sandbox-profiles/profiles/default.textproto"));
    std::stringstream text;
    text << in.rdbuf();
    ASSERT_FALSE(text.str().empty()) << "default profile not found; set CORDON_SOURCE_DIR";
    profile_ = root_ + "/profile.textproto";
    std::ofstream(profile_) << text.str() << "\ncapabilities { host_functions: \"gate\" }\n";
  }
  void TearDown() override {
    log_.reset();
    std::error_code ignored;
    if (!root_.empty()) fs::remove_all(root_, ignored);
  }

  // A bundle of the versioned plugin announcing `version` (and `name`), with extra args.
  std::string Bundle(const std::string& version, const std::vector<std::string>& args = {},
                     const std::string& name = "versioned") {
    fs::path bundle = fs::path(root_) / absl::StrCat(name, "-", version, "-", bundles_++);
    fs::create_directories(bundle);
    fs::copy_file(VERSIONED_PLUGIN_PATH, bundle / "plugin");
    std::ofstream manifest(bundle / "manifest.textproto");
    manifest << "name: \"" << name << "\"\nversion: \"" << version << "\"\nentry: \"plugin\"\n"
             << "protocol { min: 1 max: 1 }\n"
             << "args: \"--name=" << name << "\"\nargs: \"--version=" << version << "\"\n";
    for (const std::string& arg : args) manifest << "args: \"" << arg << "\"\n";
    manifest << "capabilities { kind: \"host.call\" target: \"gate\" }\n"
             << "limits { call_timeout_ms: 10000 handshake_timeout_ms: 10000 }\n";
    return bundle.string();
  }

  LoadRequest Request(const std::string& bundle_dir) {
    LoadRequest request;
    request.bundle_dir = bundle_dir;
    request.profile = profile_;
    request.audit_log = log_.get();
    return request;
  }

  std::unique_ptr<PluginSlot> Serving(const std::string& version) {
    absl::StatusOr<std::unique_ptr<PluginSlot>> slot = PluginSlot::Create(Request(Bundle(version)));
    EXPECT_TRUE(slot.ok()) << slot.status();
    return slot.ok() ? std::move(*slot) : nullptr;
  }

  std::vector<audit::JsonValue> Records(const std::string& type) {
    std::vector<audit::JsonValue> out;
    std::ifstream in(root_ + "/audit.jsonl");
    for (std::string line; std::getline(in, line);) {
      absl::StatusOr<audit::JsonValue> record = audit::JsonValue::Parse(line);
      if (!record.ok()) {
        ADD_FAILURE() << record.status();
        continue;
      }
      const audit::JsonValue* t = record->Find("type");
      if (t != nullptr && t->string_value() == type) out.push_back(std::move(*record));
    }
    return out;
  }
  static std::string Field(const audit::JsonValue& record, const std::string& key) {
    const audit::JsonValue* v = record.Find(key);
    return v == nullptr ? "" : v->string_value();
  }
  // Host pids of every sandbox started for `version`.
  std::vector<pid_t> SpawnedPids(const std::string& version) {
    std::vector<pid_t> pids;
    for (const audit::JsonValue& r : Records("plugin.spawn")) {
      const audit::JsonValue* plugin = r.Find("plugin");
      int64_t pid = 0;
      if (plugin != nullptr && Field(*plugin, "version") == version &&
          r.Find("host_pid") != nullptr && r.Find("host_pid")->ToInt64(&pid)) {
        pids.push_back(static_cast<pid_t>(pid));
      }
    }
    return pids;
  }

  void ExpectChainVerifies() {
    absl::StatusOr<audit::VerifyResult> verified =
        audit::AuditVerifier::Verify({root_ + "/audit.jsonl"}, audit::VerifyOptions());
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_TRUE(verified->ok) << verified->problem;
  }

  // The old version is untouched: same sandbox, still ready, still answering as itself.
  void ExpectStillServing(PluginSlot& slot, const std::string& version, pid_t pid) {
    EXPECT_EQ(slot.version(), version);
    EXPECT_EQ(slot.host_pid(), pid);
    EXPECT_EQ(slot.state(), PluginState::kReady);
    absl::StatusOr<std::string> answer = slot.Call("version", "");
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(*answer, version);
  }

  std::string root_;
  std::string profile_;
  std::unique_ptr<audit::AuditLog> log_;
  int bundles_ = 0;
};

TEST_F(PluginSlotTest, UpgradeSwitchesCallsToTheNewVersionAndEndsTheOldSandbox) {
  std::unique_ptr<PluginSlot> slot = Serving("1.0.0");
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(slot->name(), "versioned");
  absl::StatusOr<std::string> before = slot->Call("version", "");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, "1.0.0");
  pid_t old_pid = slot->host_pid();

  UpgradeOptions options;
  options.health_method = "health";
  std::string switched_from, switched_to;
  options.on_switch = [&](const std::string& from, const std::string& to) {
    switched_from = from;
    switched_to = to;
  };
  absl::Status upgraded = slot->Upgrade(Request(Bundle("2.0.0")), options);
  ASSERT_TRUE(upgraded.ok()) << upgraded;
  EXPECT_EQ(switched_from, "1.0.0");
  EXPECT_EQ(switched_to, "2.0.0");
  EXPECT_EQ(slot->version(), "2.0.0");
  absl::StatusOr<std::string> after = slot->Call("version", "");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, "2.0.0");
  EXPECT_NE(slot->host_pid(), old_pid);
  EXPECT_TRUE(ProcessGone(old_pid)) << "the old sandbox was drained and reaped";

  std::vector<audit::JsonValue> upgrades = Records("plugin.upgrade");
  ASSERT_EQ(upgrades.size(), 1u);
  EXPECT_EQ(Field(upgrades[0], "from_version"), "1.0.0");
  EXPECT_EQ(Field(upgrades[0], "to_version"), "2.0.0");
  EXPECT_EQ(Field(upgrades[0], "outcome"), "switched");
  EXPECT_EQ(Field(upgrades[0], "decision"), "allow");
  EXPECT_EQ(Field(upgrades[0], "health_method"), "health");
  EXPECT_EQ(Field(*upgrades[0].Find("plugin"), "version"), "2.0.0");
  // The old version left through a graceful drain, not a kill.
  bool old_stopped = false;
  for (const audit::JsonValue& r : Records("plugin.stopped")) {
    if (Field(*r.Find("plugin"), "version") == "1.0.0") old_stopped = true;
  }
  EXPECT_TRUE(old_stopped);

  pid_t new_pid = slot->host_pid();
  ASSERT_TRUE(slot->Shutdown(absl::Seconds(5)).ok());
  EXPECT_TRUE(ProcessGone(new_pid));
  EXPECT_EQ(slot->Call("version", "").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(slot->Upgrade(Request(Bundle("3.0.0")), UpgradeOptions()).ok());
  ExpectChainVerifies();
}

TEST_F(PluginSlotTest, DowngradeAndSameVersionAreRefusedUnlessAllowed) {
  std::unique_ptr<PluginSlot> slot = Serving("2.0.0");
  ASSERT_NE(slot, nullptr);
  pid_t pid = slot->host_pid();
  for (std::string version : {"1.5.0", "2.0.0", "2.0.0-rc.1"}) {
    absl::Status refused = slot->Upgrade(Request(Bundle(version)), UpgradeOptions());
    ASSERT_FALSE(refused.ok()) << version;
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(refused.message(), HasSubstr("versioned"));
    EXPECT_THAT(refused.message(), HasSubstr("2.0.0"));
    EXPECT_THAT(refused.message(), HasSubstr(version));
    EXPECT_THAT(refused.message(), HasSubstr("allow_downgrade"));
    ExpectStillServing(*slot, "2.0.0", pid);
  }
  // Refused from the manifest alone: no sandbox was started for them.
  EXPECT_TRUE(SpawnedPids("1.5.0").empty());
  std::vector<audit::JsonValue> refusals = Records("plugin.upgrade");
  ASSERT_EQ(refusals.size(), 3u);
  EXPECT_EQ(Field(refusals[0], "outcome"), "rolled_back");
  EXPECT_EQ(Field(refusals[0], "stage"), "check");
  EXPECT_EQ(Field(refusals[0], "decision"), "deny");
  EXPECT_THAT(Field(refusals[0], "reason"), HasSubstr("not higher"));

  UpgradeOptions allow;
  allow.allow_downgrade = true;
  absl::Status downgraded = slot->Upgrade(Request(Bundle("1.5.0")), allow);
  ASSERT_TRUE(downgraded.ok()) << downgraded;
  EXPECT_EQ(*slot->Call("version", ""), "1.5.0");
  EXPECT_TRUE(ProcessGone(pid));
  ExpectChainVerifies();
}

TEST_F(PluginSlotTest, DifferentPluginNameIsRefused) {
  std::unique_ptr<PluginSlot> slot = Serving("1.0.0");
  ASSERT_NE(slot, nullptr);
  pid_t pid = slot->host_pid();
  absl::Status refused = slot->Upgrade(Request(Bundle("2.0.0", {}, "other")), UpgradeOptions());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("'other'"));
  EXPECT_THAT(refused.message(), HasSubstr("1.0.0"));
  EXPECT_THAT(refused.message(), HasSubstr("2.0.0"));
  ExpectStillServing(*slot, "1.0.0", pid);
  EXPECT_TRUE(SpawnedPids("2.0.0").empty());
}

// Each way the new version can fail before the switch: the old one keeps serving, unaffected,
// and nothing of the new sandbox is left.
TEST_F(PluginSlotTest, NewVersionFailingBeforeTheSwitchIsRolledBack) {
  struct Case {
    std::string what;
    std::vector<std::string> args;
    std::string stage;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"handshake (protocol range)", {"--protocol=7-9"}, "start", "7"},
      {"crash at start", {"--crash-at-start"}, "start", "versioned"},
      {"failed health check", {"--unhealthy"}, "health", "not healthy"},
  };
  std::unique_ptr<PluginSlot> slot = Serving("1.0.0");
  ASSERT_NE(slot, nullptr);
  pid_t pid = slot->host_pid();
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string version = absl::StrCat("2.0.", n++);
    UpgradeOptions options;
    options.health_method = "health";
    absl::Status failed = slot->Upgrade(Request(Bundle(version, c.args)), options);
    ASSERT_FALSE(failed.ok());
    EXPECT_THAT(failed.message(), HasSubstr("versioned"));
    EXPECT_THAT(failed.message(), HasSubstr("1.0.0"));
    EXPECT_THAT(failed.message(), HasSubstr(version));
    EXPECT_THAT(failed.message(), HasSubstr(c.reason));
    EXPECT_THAT(failed.message(), HasSubstr("rolled back"));
    ExpectStillServing(*slot, "1.0.0", pid);
    std::vector<pid_t> spawned = SpawnedPids(version);
    ASSERT_EQ(spawned.size(), 1u) << "the new version did get a sandbox";
    EXPECT_TRUE(ProcessGone(spawned[0]));
    std::vector<audit::JsonValue> upgrades = Records("plugin.upgrade");
    ASSERT_FALSE(upgrades.empty());
    EXPECT_EQ(Field(upgrades.back(), "outcome"), "rolled_back");
    EXPECT_EQ(Field(upgrades.back(), "stage"), c.stage);
    EXPECT_EQ(Field(upgrades.back(), "to_version"), version);
    EXPECT_THAT(Field(upgrades.back(), "reason"), HasSubstr(c.reason));
  }
  ExpectChainVerifies();
}

TEST_F(PluginSlotTest, ConcurrentCallsDuringAnUpgradeAllSucceed) {
  std::unique_ptr<PluginSlot> slot = Serving("1.0.0");
  ASSERT_NE(slot, nullptr);
  constexpr int kCallers = 6;
  std::latch calling(kCallers);  // every caller is in its loop before the upgrade starts
  std::atomic<bool> upgraded{false};
  std::atomic<int> failures{0};
  std::atomic<int> old_answers{0};
  std::atomic<int> new_answers{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      // Until the upgrade returned, then a few more that must all reach the new version.
      int after = 0;
      for (int i = 0; after < 5 && i < 100000; ++i) {
        bool done = upgraded.load();
        std::string input = absl::StrCat("t", t, "-", i);
        absl::StatusOr<std::string> echoed = slot->Call("echo", input);
        absl::StatusOr<std::string> version = slot->Call("version", "");
        if (i == 0) calling.count_down();
        if (done) ++after;
        if (!echoed.ok() || *echoed != input || !version.ok()) {
          ++failures;
          ADD_FAILURE() << (echoed.ok() ? version.status() : echoed.status());
          continue;
        }
        if (*version == "1.0.0") ++old_answers;
        if (*version == "2.0.0") ++new_answers;
        if (done) {
          EXPECT_EQ(*version, "2.0.0");
        }
      }
    });
  }
  calling.wait();
  absl::Status status = slot->Upgrade(Request(Bundle("2.0.0")), UpgradeOptions());
  upgraded = true;
  for (std::thread& caller : callers) caller.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(old_answers.load(), kCallers);
  EXPECT_GE(new_answers.load(), 5 * kCallers);
}

// A call that reached the old version before the switch finishes there, while new calls already
// go to the new version; the old sandbox ends only after it.
TEST_F(PluginSlotTest, CallInFlightOnTheOldVersionFinishesOnIt) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> gate_open{false};
  std::atomic<bool> drained_early{false};
  LoadRequest first = Request(Bundle("1.0.0"));
  // The old version is asked to drain only once its last call has ended, so the plugin never
  // sees a shutdown request while it still has work the slot sent it.
  first.on_state_change = [&](PluginState state, const std::string&) {
    if (state == PluginState::kDraining && !gate_open) drained_early = true;
  };
  first.host_functions["gate"] = [&](const std::string& input, absl::Duration) {
    entered.set_value();
    released.wait();
    return absl::StatusOr<std::string>(absl::StrCat(input, " released"));
  };
  absl::StatusOr<std::unique_ptr<PluginSlot>> made = PluginSlot::Create(first);
  ASSERT_TRUE(made.ok()) << made.status();
  PluginSlot& slot = **made;
  pid_t old_pid = slot.host_pid();

  std::future<absl::StatusOr<std::string>> held =
      std::async(std::launch::async, [&] { return slot.Call("gate", "held"); });
  entered.get_future().wait();

  std::promise<void> switched;
  UpgradeOptions options;
  options.on_switch = [&](const std::string&, const std::string&) { switched.set_value(); };
  std::future<absl::Status> upgrade = std::async(
      std::launch::async, [&] { return slot.Upgrade(Request(Bundle("2.0.0")), options); });
  switched.get_future().wait();

  absl::StatusOr<std::string> fresh = slot.Call("version", "");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(*fresh, "2.0.0");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(*slot.Call("version", ""), "2.0.0");
  EXPECT_FALSE(ProcessGone(old_pid)) << "the old version must wait for its call";

  gate_open = true;
  release.set_value();
  absl::StatusOr<std::string> finished = held.get();
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(*finished, "1.0.0:held released");
  absl::Status upgraded = upgrade.get();
  ASSERT_TRUE(upgraded.ok()) << upgraded;
  EXPECT_TRUE(ProcessGone(old_pid));
  EXPECT_FALSE(drained_early.load());
}

TEST_F(PluginSlotTest, CrashWithinTheBakeTimeRollsBackToThePreviousVersion) {
  std::unique_ptr<PluginSlot> slot = Serving("1.0.0");
  ASSERT_NE(slot, nullptr);
  UpgradeOptions options;
  // Far longer than the test takes: the crash, not the clock, ends it (were the rollback
  // missing, WaitForBake would return OK after 30 s and the test fail).
  options.bake_time = absl::Seconds(30);
  absl::Status upgraded = slot->Upgrade(Request(Bundle("2.0.0")), options);
  ASSERT_TRUE(upgraded.ok()) << upgraded;
  EXPECT_EQ(*slot->Call("version", ""), "2.0.0");
  pid_t new_pid = slot->host_pid();

  EXPECT_FALSE(slot->Call("crash", "").ok());
  absl::Status bake = slot->WaitForBake();
  EXPECT_EQ(bake.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(bake.message(), HasSubstr("2.0.0"));
  EXPECT_THAT(bake.message(), HasSubstr("rolled back to 1.0.0"));
  EXPECT_EQ(slot->version(), "1.0.0");
  absl::StatusOr<std::string> answer = slot->Call("version", "");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(*answer, "1.0.0");
  EXPECT_TRUE(ProcessGone(new_pid));

  std::vector<audit::JsonValue> upgrades = Records("plugin.upgrade");
  ASSERT_EQ(upgrades.size(), 2u);
  EXPECT_EQ(Field(upgrades[0], "outcome"), "switched");
  EXPECT_EQ(Field(upgrades[1], "outcome"), "rolled_back");
  EXPECT_EQ(Field(upgrades[1], "stage"), "bake");
  EXPECT_EQ(Field(upgrades[1], "from_version"), "1.0.0");
  EXPECT_EQ(Field(upgrades[1], "to_version"), "2.0.0");
  EXPECT_EQ(Field(*upgrades[1].Find("plugin"), "version"), "1.0.0");
  EXPECT_FALSE(Field(upgrades[1], "reason").empty());

  // The slot upgrades again from the re-loaded version.
  absl::Status again = slot->Upgrade(Request(Bundle("2.0.1")), UpgradeOptions());
  ASSERT_TRUE(again.ok()) << again;
  EXPECT_EQ(*slot->Call("version", ""), "2.0.1");
  ExpectChainVerifies();
}

TEST_F(PluginSlotTest, BakeTimePassingKeepsTheNewVersion) {
  std::unique_ptr<PluginSlot> slot = Serving("1.0.0");
  ASSERT_NE(slot, nullptr);
  UpgradeOptions options;
  options.bake_time = absl::Milliseconds(200);
  ASSERT_TRUE(slot->Upgrade(Request(Bundle("1.1.0")), options).ok());
  EXPECT_TRUE(slot->WaitForBake().ok());
  // A crash after the bake period is the new version's own failure, not a rollback.
  EXPECT_FALSE(slot->Call("crash", "").ok());
  EXPECT_EQ(slot->version(), "1.1.0");
  EXPECT_EQ(Records("plugin.upgrade").size(), 1u);
}

TEST_F(PluginSlotTest, FailedReloadDuringTheBakeIsReported) {
  std::string first_bundle = Bundle("1.0.0");
  absl::StatusOr<std::unique_ptr<PluginSlot>> slot = PluginSlot::Create(Request(first_bundle));
  ASSERT_TRUE(slot.ok()) << slot.status();
  UpgradeOptions options;
  options.bake_time = absl::Seconds(30);
  ASSERT_TRUE((*slot)->Upgrade(Request(Bundle("2.0.0")), options).ok());
  // The previous bundle is gone, so there is nothing to come back to.
  fs::remove_all(first_bundle);
  EXPECT_FALSE((*slot)->Call("crash", "").ok());
  absl::Status bake = (*slot)->WaitForBake();
  EXPECT_EQ(bake.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(bake.message(), HasSubstr("rolling back to 1.0.0 failed"));
  EXPECT_EQ((*slot)->version(), "2.0.0");
  EXPECT_EQ((*slot)->state(), PluginState::kFailed);
  std::vector<audit::JsonValue> upgrades = Records("plugin.upgrade");
  ASSERT_EQ(upgrades.size(), 2u);
  EXPECT_EQ(Field(upgrades[1], "outcome"), "rollback_failed");
  EXPECT_THAT(Field(upgrades[1], "reason"), HasSubstr(first_bundle));
  ExpectChainVerifies();
}

// A new upgrade ends the running bake; destroying the slot mid-bake leaves no sandbox behind.
TEST_F(PluginSlotTest, UpgradeAndDestructionDuringABake) {
  std::unique_ptr<PluginSlot> slot = Serving("1.0.0");
  ASSERT_NE(slot, nullptr);
  UpgradeOptions options;
  options.bake_time = absl::Seconds(30);
  ASSERT_TRUE(slot->Upgrade(Request(Bundle("2.0.0")), options).ok());
  ASSERT_TRUE(slot->Upgrade(Request(Bundle("3.0.0")), options).ok());
  EXPECT_EQ(*slot->Call("version", ""), "3.0.0");
  pid_t pid = slot->host_pid();
  slot.reset();
  EXPECT_TRUE(ProcessGone(pid));
  for (const std::string version : {"1.0.0", "2.0.0", "3.0.0"}) {
    for (pid_t spawned : SpawnedPids(version)) EXPECT_TRUE(ProcessGone(spawned)) << version;
  }
}

}  // namespace
}  // namespace cordon::host
