// What a loaded plugin is told at the handshake (Welcome.limits) and what it is checked for
// (its Hello against its manifest: name, version, protocol range).
#include <string>
#include <vector>

#include "cordon/v1/common.pb.h"
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

// The PluginLimits the plugin itself read from its Welcome (the "limits" method).
absl::StatusOr<cordon::v1::PluginLimits> LimitsSeenBy(const std::string& bundle) {
  LoadRequest request;
  request.bundle_dir = bundle;  // profile "default"
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  if (!plugin.ok()) return plugin.status();
  absl::StatusOr<std::string> bytes = (*plugin)->Call("limits", "");
  if (!bytes.ok()) return bytes.status();
  cordon::v1::PluginLimits limits;
  if (!limits.ParseFromString(*bytes)) return absl::DataLossError("not a PluginLimits");
  return limits;
}

TEST(LoadedPluginHandshakeTest, WelcomeCarriesTheManifestsLimitsWithinTheProfile) {
  BundleFactory bundles;
  absl::StatusOr<cordon::v1::PluginLimits> seen = LimitsSeenBy(bundles.Make(
      "asked", "misbehaving", {}, "",
      "memory_bytes: 134217728 pids: 16 cpu_time_seconds: 30 wall_time_ms: 600000 "
      "call_timeout_ms: 4000 handshake_timeout_ms: 3000 max_message_bytes: 32768 "
      "max_payload_bytes: 1048576 max_concurrent_calls: 8 broker_requests_per_second: 50 "
      "heartbeat_interval_ms: 250 open_files: 100000"));
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->memory_bytes(), 134217728u);
  EXPECT_EQ(seen->pids(), 16u);
  EXPECT_EQ(seen->cpu_time_seconds(), 30u);
  EXPECT_EQ(seen->wall_time_ms(), 600000u);
  EXPECT_EQ(seen->call_timeout_ms(), 4000u);
  EXPECT_EQ(seen->handshake_timeout_ms(), 3000u);
  EXPECT_EQ(seen->max_message_bytes(), 32768u);
  EXPECT_EQ(seen->max_payload_bytes(), 1048576u);
  EXPECT_EQ(seen->max_concurrent_calls(), 8u);
  EXPECT_EQ(seen->broker_requests_per_second(), 50u);
  EXPECT_EQ(seen->heartbeat_interval_ms(), 250u);
  EXPECT_EQ(seen->open_files(), 256u) << "asked above the default profile's bound: the bound";
}

TEST(LoadedPluginHandshakeTest, WelcomeCarriesTheProfileAndHostDefaultsWhenTheManifestAsksNothing) {
  BundleFactory bundles;
  absl::StatusOr<cordon::v1::PluginLimits> seen =
      LimitsSeenBy(bundles.Make("defaults", "misbehaving", {}, "", "memory_bytes: 1099511627776"));
  ASSERT_TRUE(seen.ok()) << seen.status();
  // sandbox-profiles/profiles/default.textproto
  EXPECT_EQ(seen->memory_bytes(), 536870912u) << "asked for 1 TiB: the profile's bound";
  EXPECT_EQ(seen->pids(), 64u);
  EXPECT_EQ(seen->cpu_time_seconds(), 60u);
  EXPECT_EQ(seen->wall_time_ms(), 0u);
  EXPECT_EQ(seen->open_files(), 256u);
  // The host's defaults.
  EXPECT_EQ(seen->call_timeout_ms(), 30000u);
  EXPECT_EQ(seen->handshake_timeout_ms(), 5000u);
  EXPECT_EQ(seen->max_message_bytes(), 65536u);
  EXPECT_EQ(seen->max_payload_bytes(), uint64_t{1} << 30);
  EXPECT_EQ(seen->max_concurrent_calls(), 64u);
  EXPECT_EQ(seen->broker_requests_per_second(), 200u);
  EXPECT_EQ(seen->heartbeat_interval_ms(), 1000u);
}

// A manifest lowering the datagram cap: both sides send what no longer fits inline as a memfd.
TEST(LoadedPluginHandshakeTest, SmallerMessageCapIsHonouredBothWays) {
  BundleFactory bundles;
  LoadRequest request;
  request.bundle_dir = bundles.Make("small", "misbehaving", {}, "",
                                    "max_message_bytes: 16384 call_timeout_ms: 5000");
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  const std::string input(16384, 'm');
  absl::StatusOr<std::string> echoed = (*plugin)->Call("echo", input);
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_EQ(*echoed, input);
  EXPECT_EQ((*plugin)->state(), PluginState::kReady);
}

TEST(LoadedPluginHandshakeTest, VersionDifferentFromTheManifestIsRejectedNamingBoth) {
  BundleFactory bundles;
  LoadRequest request;
  request.bundle_dir = bundles.Make("older", "misbehaving", {"--version=0.2.0"});
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(),
              HasSubstr("announced version '0.2.0' but its manifest says '0.1.0'"));
}

// A manifest range the host cannot speak is refused before anything is spawned.
TEST(LoadedPluginHandshakeTest, ManifestRangeOutsideTheHostsIsRefusedBeforeSpawning) {
  BundleFactory bundles;
  AuditTrail trail;
  LoadRequest request;
  request.bundle_dir = bundles.Make("future", "misbehaving", {}, "", "", "min: 7 max: 9");
  request.audit_log = trail.log();
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(), HasSubstr("manifest protocol range"));
  EXPECT_THAT(plugin.status().message(), HasSubstr("[7, 9]"));
  EXPECT_THAT(trail.Types("plugin."), ElementsAre("plugin.load", "plugin.failed"));
}

// The Hello's range is negotiated within host ∩ manifest: a plugin announcing a version its
// manifest does not declare is rejected, with every range named.
TEST(LoadedPluginHandshakeTest, HelloOutsideTheManifestRangeIsRejectedNamingEveryRange) {
  BundleFactory bundles;
  LoadRequest request;
  request.bundle_dir =
      bundles.Make("undeclared", "misbehaving", {"--protocol=2-2"}, "", "", "min: 1 max: 2");
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(),
              HasSubstr("the plugin's Hello announces [2, 2], its manifest declares [1, 2] and "
                        "the host speaks [1, 1]"));
}

TEST(LoadedPluginHandshakeTest, HelloWiderThanTheManifestGetsAVersionBothDeclare) {
  BundleFactory bundles;
  LoadRequest request;
  request.bundle_dir = bundles.Make("wider", "misbehaving", {"--protocol=1-5"});
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_EQ((*plugin)->info().protocol_version, 1u);
  EXPECT_TRUE((*plugin)->Call("echo", "x").ok());
}

TEST(LoadedPluginHandshakeTest, DisjointHelloRangeIsRejectedWithEveryRange) {
  BundleFactory bundles;
  LoadRequest request;
  request.bundle_dir = bundles.Make("newer", "misbehaving", {"--protocol=7-9"});
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(), HasSubstr("misbehaving"));
  EXPECT_THAT(plugin.status().message(), HasSubstr("Hello announces [7, 9]"));
}

}  // namespace
}  // namespace cordon::host
