// A plugin that stops answering: silent at the handshake, hung past a call's deadline, mute
// (no heartbeat) while alive, deaf to the shutdown request. Each is recorded, killed and
// reported with a clear error; a slow plugin that keeps heartbeating is left alone.
#include <unistd.h>

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
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

// 100 ms heartbeats: the watchdog allows 500 ms of silence.
constexpr char kFastHeartbeats[] = "call_timeout_ms: 20000 heartbeat_interval_ms: 100";

pid_t SpawnedPid(AuditTrail& trail) {
  const audit::JsonValue spawn = trail.First("plugin.spawn");  // Find points into it
  const audit::JsonValue* pid = spawn.Find("host_pid");
  int64_t value = -1;
  if (pid == nullptr || !pid->ToInt64(&value)) return -1;
  return static_cast<pid_t>(value);
}

// Shutdown of a failed plugin waits until its sandbox was reaped (plugin.exit written).
void ExpectKilledAndReaped(LoadedPlugin& plugin, AuditTrail& trail) {
  pid_t pid = plugin.host_pid();
  (void)plugin.Shutdown(absl::Seconds(5));
  EXPECT_EQ(plugin.state(), PluginState::kFailed);
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_EQ(Field(trail.First("plugin.exit"), "signal_name"), "KILL");
}

TEST(LoadedPluginLivenessTest, SilentAtTheHandshakeIsRecordedAndKilled) {
  BundleFactory bundles;
  AuditTrail trail;
  LoadRequest request;
  request.bundle_dir = bundles.Make("silent", "misbehaving", {"--silent"});
  request.audit_log = trail.log();
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_FALSE(plugin.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_THAT(plugin.status().message(), HasSubstr("plugin misbehaving 0.1.0"));
  EXPECT_THAT(plugin.status().message(),
              HasSubstr("no hello within the handshake timeout of 1.5s"));
  EXPECT_THAT(trail.Types(), ElementsAre("plugin.load", "plugin.spawn", "plugin.probe",
                                         "quota.violation", "plugin.failed", "plugin.exit"));
  audit::JsonValue violation = trail.First("quota.violation");
  EXPECT_EQ(Field(violation, "quota"), "handshake_timeout");
  EXPECT_EQ(Field(violation, "action"), "killed");
  EXPECT_EQ(Field(trail.First("plugin.exit"), "signal_name"), "KILL");
  pid_t pid = SpawnedPid(trail);
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(ProcessGone(pid));
}

TEST(LoadedPluginLivenessTest, HangPastTheDeadlineIsRecordedAndKilledAndTheHostGoesOn) {
  BundleFactory bundles;
  AuditTrail trail;
  LoadRequest request;
  request.bundle_dir = bundles.Make("hang", "misbehaving", {});
  request.audit_log = trail.log();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::StatusOr<std::string> result = (*plugin)->Call("hang", "", absl::Milliseconds(300));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.status().message(), HasSubstr("misbehaving 0.1.0 (pid"));
  EXPECT_THAT(result.status().message(), HasSubstr("call 'hang'"));
  EXPECT_THAT(result.status().message(), HasSubstr("no result within 300ms"));
  ExpectKilledAndReaped(**plugin, trail);
  EXPECT_THAT(trail.Types(),
              ElementsAre("plugin.load", "plugin.spawn", "plugin.probe", "plugin.configure",
                          "plugin.ready", "quota.violation", "plugin.failed", "plugin.exit"));
  EXPECT_EQ(Field(trail.First("quota.violation"), "quota"), "call_deadline_exceeded");
  // The host is unaffected: another plugin loads and answers.
  request.bundle_dir = EchoBundle();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> other = LoadedPlugin::Load(request);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE((*other)->Call("echo", "fine").ok());
}

// Alive but silent after its first heartbeat, with no call outstanding: the watchdog alone
// catches it.
TEST(LoadedPluginLivenessTest, PluginThatStopsHeartbeatingIsRecordedAndKilled) {
  BundleFactory bundles;
  AuditTrail trail;
  StateLog states;
  LoadRequest request;
  request.bundle_dir = bundles.Make("mute", "misbehaving", {"--raw=1"}, "", kFastHeartbeats);
  request.audit_log = trail.log();
  request.on_state_change = states.Observer();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  ASSERT_TRUE(states.Wait(PluginState::kFailed)) << "the watchdog never fired";
  EXPECT_THAT(states.failure(), HasSubstr("no heartbeat or other message for 500ms"));
  ExpectKilledAndReaped(**plugin, trail);
  audit::JsonValue violation = trail.First("quota.violation");
  EXPECT_EQ(Field(violation, "quota"), "heartbeat_timeout");
  EXPECT_EQ(Field(violation, "action"), "killed");
  absl::StatusOr<std::string> after = (*plugin)->Call("echo", "x");
  ASSERT_FALSE(after.ok());
  EXPECT_THAT(after.status().message(), HasSubstr("no heartbeat"));
}

// Silence during a call is caught by the watchdog long before the call's own deadline.
TEST(LoadedPluginLivenessTest, SilenceDuringACallEndsItAtTheHeartbeatTimeout) {
  BundleFactory bundles;
  AuditTrail trail;
  LoadRequest request;
  request.bundle_dir = bundles.Make("mute", "misbehaving", {"--raw=1"}, "", kFastHeartbeats);
  request.audit_log = trail.log();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::Time start = absl::Now();
  absl::StatusOr<std::string> result = (*plugin)->Call("echo", "x", absl::Seconds(60));
  ASSERT_FALSE(result.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_THAT(result.status().message(), HasSubstr("no heartbeat"));
  ExpectKilledAndReaped(**plugin, trail);
  EXPECT_EQ(Field(trail.First("quota.violation"), "quota"), "heartbeat_timeout");
}

// A call four times longer than the watchdog's limit, while the SDK keeps heartbeating.
TEST(LoadedPluginLivenessTest, SlowCallThatKeepsHeartbeatingSurvives) {
  BundleFactory bundles;
  AuditTrail trail;
  LoadRequest request;
  request.bundle_dir = bundles.Make("slow", "misbehaving", {}, "", kFastHeartbeats);
  request.audit_log = trail.log();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::StatusOr<std::string> result = (*plugin)->Call("slow", "2000");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, "done");
  EXPECT_EQ((*plugin)->state(), PluginState::kReady);
  EXPECT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  EXPECT_THAT(trail.Types("quota."), ElementsAre());
}

// Deaf to the shutdown request: killed when the grace runs out, and the record says so.
TEST(LoadedPluginLivenessTest, PluginIgnoringShutdownIsKilledAfterTheGrace) {
  BundleFactory bundles;
  AuditTrail trail;
  StateLog states;
  LoadRequest request;
  request.bundle_dir = bundles.Make("deaf", "misbehaving", {"--raw=0"});
  request.audit_log = trail.log();
  request.on_state_change = states.Observer();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  pid_t pid = (*plugin)->host_pid();
  absl::Status stopped = (*plugin)->Shutdown(absl::Milliseconds(300));
  EXPECT_EQ(stopped.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(stopped.message(),
              HasSubstr("misbehaving 0.1.0 did not stop within the shutdown grace of 300ms"));
  EXPECT_EQ((*plugin)->state(), PluginState::kFailed);
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_THAT(trail.Types("plugin."),
              ElementsAre("plugin.load", "plugin.spawn", "plugin.probe", "plugin.configure",
                          "plugin.ready", "plugin.draining", "plugin.failed", "plugin.exit"));
  EXPECT_THAT(Field(trail.First("plugin.failed"), "reason"),
              HasSubstr("did not stop within the shutdown grace of 300ms; killed"));
  EXPECT_THAT(states.states(),
              ElementsAre("load", "spawn", "probe", "configure", "ready", "draining", "failed"));
}

}  // namespace
}  // namespace cordon::host
