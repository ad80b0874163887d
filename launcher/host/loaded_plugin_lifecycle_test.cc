// The lifecycle as the audit log and the observer see it: every transition a plugin.* record,
// in order, for a normal life and a failed one; a transition whose record cannot be written
// does not happen; and the audit log's failure policy reaching every plugin.
#include <unistd.h>

#include <atomic>
#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/host/audit_failure_enforcer.h"
#include "launcher/host/loaded_plugin.h"
#include "launcher/host/testing/host_test_support.h"

namespace cordon::host {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::AuditTrail;
using testing_util::BundleFactory;
using testing_util::EchoBundle;
using testing_util::Field;
using testing_util::ProcessGone;
using testing_util::StateLog;

TEST(LoadedPluginLifecycleTest, NormalLifeRecordsEveryTransitionInOrder) {
  AuditTrail trail;
  StateLog states;
  LoadRequest request;
  request.bundle_dir = EchoBundle();
  request.audit_log = trail.log();
  request.on_state_change = states.Observer();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  ASSERT_TRUE((*plugin)->Call("echo", "x").ok());
  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  EXPECT_THAT(trail.Types("plugin."),
              ElementsAre("plugin.load", "plugin.spawn", "plugin.probe", "plugin.configure",
                          "plugin.ready", "plugin.draining", "plugin.exit", "plugin.stopped"));
  EXPECT_THAT(states.states(),
              ElementsAre("load", "spawn", "probe", "configure", "ready", "draining", "stopped"));
  EXPECT_EQ(Field(trail.First("plugin.configure"), "methods"), "echo,reverse");
}

// The plugin refuses its configuration (Ready{error}) and stays alive: the host alone decides
// what follows, so the order is exact.
TEST(LoadedPluginLifecycleTest, FailedLifeRecordsEveryTransitionInOrder) {
  BundleFactory bundles;
  AuditTrail trail;
  StateLog states;
  LoadRequest request;
  request.bundle_dir = bundles.Make("refuses", "misbehaving", {"--refuse-config"});
  request.audit_log = trail.log();
  request.on_state_change = states.Observer();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(), HasSubstr("refused its configuration"));
  EXPECT_THAT(trail.Types("plugin."),
              ElementsAre("plugin.load", "plugin.spawn", "plugin.probe", "plugin.configure",
                          "plugin.failed", "plugin.exit"));
  EXPECT_THAT(states.states(), ElementsAre("load", "spawn", "probe", "configure", "failed"));
  EXPECT_THAT(Field(trail.First("plugin.failed"), "reason"),
              HasSubstr("refused its configuration"));
  const audit::JsonValue spawn = trail.First("plugin.spawn");  // Find points into it
  const audit::JsonValue* pid = spawn.Find("host_pid");
  ASSERT_NE(pid, nullptr);
  int64_t host_pid = 0;
  ASSERT_TRUE(pid->ToInt64(&host_pid));
  EXPECT_TRUE(ProcessGone(static_cast<pid_t>(host_pid)));
}

// An audit log in sync mode whose fdatasync starts failing from the n-th call on (counted
// from when Arm is called): a record that fails at a chosen transition.
class FailingSyncs {
 public:
  void Arm(int nth) {
    calls_ = 0;
    fail_from_ = nth;
  }
  std::function<void(audit::AuditLogOptions&)> Tweak(
      audit::OnWriteFailure policy = audit::OnWriteFailure::kKillPlugins,
      AuditFailureEnforcer* enforcer = nullptr) {
    return [this, policy, enforcer](audit::AuditLogOptions& options) {
      options.durability = audit::Durability::kSync;
      options.on_failure = policy;
      if (enforcer != nullptr) options.on_failure_callback = enforcer->Callback();
      options.fdatasync_for_testing = [this](int fd) {
        if (++calls_ >= fail_from_) {
          errno = EIO;
          return -1;
        }
        return ::fdatasync(fd);
      };
    };
  }

 private:
  std::atomic<int> calls_{0};
  std::atomic<int> fail_from_{INT_MAX};
};

// Each step of a load is recorded before it takes effect: when its record fails, the load
// fails naming that record, the step is never reported, and nothing is left running.
TEST(LoadedPluginLifecycleTest, EveryLoadStepNeedsItsRecord) {
  const std::vector<std::string> steps = {"load", "spawn", "probe", "configure", "ready"};
  for (size_t failing = 0; failing < steps.size(); ++failing) {
    SCOPED_TRACE(absl::StrCat("failing record: plugin.", steps[failing]));
    FailingSyncs syncs;
    AuditTrail trail(syncs.Tweak());
    syncs.Arm(static_cast<int>(failing) + 1);
    StateLog states;
    LoadRequest request;
    request.bundle_dir = EchoBundle();
    request.audit_log = trail.log();
    request.on_state_change = states.Observer();
    absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
    ASSERT_FALSE(plugin.ok());
    EXPECT_THAT(
        plugin.status().message(),
        HasSubstr(absl::StrCat("plugin.", steps[failing], " audit record could not be written")));
    std::vector<std::string> expected(steps.begin(), steps.begin() + failing);
    expected.push_back("failed");
    EXPECT_EQ(states.states(), expected);
    if (failing >= 2) {  // plugin.spawn made it into the file: its sandbox must be gone
      const audit::JsonValue spawn = trail.First("plugin.spawn");  // Find points into it
      const audit::JsonValue* pid = spawn.Find("host_pid");
      int64_t host_pid = 0;
      ASSERT_TRUE(pid != nullptr && pid->ToInt64(&host_pid));
      EXPECT_TRUE(ProcessGone(static_cast<pid_t>(host_pid)));
    }
  }
}

TEST(LoadedPluginLifecycleTest, DrainingNeedsItsRecordOrThePluginIsKilled) {
  FailingSyncs syncs;
  AuditTrail trail(syncs.Tweak(audit::OnWriteFailure::kDenyRequests));
  LoadRequest request;
  request.bundle_dir = EchoBundle();
  request.audit_log = trail.log();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  pid_t pid = (*plugin)->host_pid();
  syncs.Arm(1);
  absl::Status stopped = (*plugin)->Shutdown(absl::Seconds(5));
  EXPECT_THAT(stopped.message(), HasSubstr("plugin.draining audit record could not be written"));
  EXPECT_EQ((*plugin)->state(), PluginState::kFailed);
  EXPECT_TRUE(ProcessGone(pid));
}

// Two plugins share a log whose writes start failing on Arm(): an echo plugin that writes
// nothing more (the bystander) and one whose broker requests are the records that fail.
class SharedLogTest : public ::testing::Test {
 protected:
  void LoadBoth(audit::OnWriteFailure policy, bool with_enforcer) {
    AuditFailureEnforcer* enforcer = with_enforcer ? &enforcer_ : nullptr;
    trail_ = std::make_unique<AuditTrail>(syncs_.Tweak(policy, enforcer));
    request_.audit_log = trail_->log();
    request_.audit_failure_enforcer = enforcer;
    request_.bundle_dir = EchoBundle();
    absl::StatusOr<std::unique_ptr<LoadedPlugin>> bystander = LoadedPlugin::Load(request_);
    ASSERT_TRUE(bystander.ok()) << bystander.status();
    bystander_ = std::move(*bystander);
    request_.bundle_dir = bundles_.Make("opener", "misbehaving", {});
    absl::StatusOr<std::unique_ptr<LoadedPlugin>> opener = LoadedPlugin::Load(request_);
    ASSERT_TRUE(opener.ok()) << opener.status();
    opener_ = std::move(*opener);
    syncs_.Arm(1);
  }

  BundleFactory bundles_;
  AuditFailureEnforcer enforcer_;  // outlives the log and the plugins
  FailingSyncs syncs_;
  std::unique_ptr<AuditTrail> trail_;
  LoadRequest request_;
  std::unique_ptr<LoadedPlugin> bystander_;
  std::unique_ptr<LoadedPlugin> opener_;
};

// Under "kill", the enforcer kills the bystander too and refuses new plugins.
TEST_F(SharedLogTest, KillPolicyKillsEveryPluginOfTheLog) {
  ASSERT_NO_FATAL_FAILURE(LoadBoth(audit::OnWriteFailure::kKillPlugins, true));
  pid_t bystander_pid = bystander_->host_pid();
  EXPECT_FALSE(opener_->Call("open_loop", "5").ok());
  EXPECT_EQ(opener_->state(), PluginState::kFailed);
  EXPECT_EQ(bystander_->state(), PluginState::kFailed);
  absl::StatusOr<std::string> after = bystander_->Call("echo", "x");
  ASSERT_FALSE(after.ok());
  EXPECT_THAT(after.status().message(), HasSubstr("the audit log failed (kill-plugins)"));
  (void)bystander_->Shutdown(absl::Seconds(5));
  EXPECT_TRUE(ProcessGone(bystander_pid));
  request_.bundle_dir = EchoBundle();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> late = LoadedPlugin::Load(request_);
  ASSERT_FALSE(late.ok());
  EXPECT_THAT(late.status().message(), HasSubstr("no plugin may run"));
}

// Under "deny", only what needs a record is refused: the request is denied, both plugins run on.
TEST_F(SharedLogTest, DenyPolicyKeepsPluginsRunning) {
  ASSERT_NO_FATAL_FAILURE(LoadBoth(audit::OnWriteFailure::kDenyRequests, true));
  absl::StatusOr<std::string> refused = opener_->Call("open_loop", "5");
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_THAT(*refused, HasSubstr("audit refused request 1"));
  EXPECT_EQ(opener_->state(), PluginState::kReady);
  EXPECT_TRUE(bystander_->Call("echo", "x").ok());
  EXPECT_TRUE(enforcer_.status().ok());
}

// Without an enforcer, the plugin whose record failed is killed and the others run on.
TEST_F(SharedLogTest, WithoutAnEnforcerOnlyThePluginWhoseRecordFailedIsKilled) {
  ASSERT_NO_FATAL_FAILURE(LoadBoth(audit::OnWriteFailure::kKillPlugins, false));
  absl::StatusOr<std::string> result = opener_->Call("open_loop", "5");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("capability.use record could not be written"));
  EXPECT_EQ(opener_->state(), PluginState::kFailed);
  pid_t opener_pid = opener_->host_pid();
  (void)opener_->Shutdown(absl::Seconds(5));
  EXPECT_TRUE(ProcessGone(opener_pid));
  EXPECT_EQ(bystander_->state(), PluginState::kReady);
  EXPECT_TRUE(bystander_->Call("echo", "x").ok());
}

}  // namespace
}  // namespace cordon::host
