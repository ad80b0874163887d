#ifndef CORDON_LAUNCHER_HOST_EFFECTIVE_LIMITS_H_
#define CORDON_LAUNCHER_HOST_EFFECTIVE_LIMITS_H_

#include <cstdint>

#include "absl/time/time.h"
#include "cordon/v1/common.pb.h"
#include "cordon/v1/manifest.pb.h"
#include "cordon/v1/profile.pb.h"
#include "ipc/plugin_session.h"
#include "launcher/broker/broker.h"
#include "launcher/host/launch_overrides.h"
#include "launcher/host/sandbox_spec_builder.h"

namespace cordon::host {

// The limits one loaded plugin runs under: what its manifest asks for within what the profile
// and the host allow. A manifest may lower a bound, never raise it (a request above the bound
// gets the bound); 0 in the manifest means "the bound" or, where there is none, the host's
// default. The same values are enforced and announced to the plugin (Welcome.limits), so a
// plugin is never told one thing and held to another.
class EffectiveLimits {
 public:
  static constexpr absl::Duration kDefaultCallTimeout = absl::Seconds(30);
  static constexpr absl::Duration kDefaultHandshakeTimeout = absl::Seconds(5);
  static constexpr uint64_t kDefaultHeartbeatIntervalMs = 1000;
  // Silence the heartbeat watchdog tolerates, in intervals: a few late beats on a loaded
  // machine are not a hang.
  static constexpr int kHeartbeatIntervalsPerTimeout = 5;

  // host_broker: the host's broker limits (LoadRequest.broker_limits).
  EffectiveLimits(const cordon::v1::Manifest& manifest, const cordon::v1::Profile& profile,
                  const broker::BrokerLimits& host_broker);

  // For the sandbox: memory, pids, CPU time, wall time, open files.
  const QuotaOverrides& quotas() const { return quotas_; }
  const broker::BrokerLimits& broker() const { return broker_; }
  absl::Duration call_timeout() const { return call_timeout_; }
  absl::Duration handshake_timeout() const { return handshake_timeout_; }
  absl::Duration heartbeat_interval() const { return absl::Milliseconds(heartbeat_interval_ms_); }
  absl::Duration heartbeat_timeout() const {
    return heartbeat_interval() * kHeartbeatIntervalsPerTimeout;
  }
  // Sets the session's datagram and payload caps, concurrent-call cap and heartbeat timeout.
  void ApplyTo(ipc::PluginSession::Options* options) const;
  // Welcome.limits: the sandbox's values as `plan` (built from quotas()) resolved them.
  cordon::v1::PluginLimits Announced(const SandboxPlan& plan) const;

 private:
  QuotaOverrides quotas_;
  broker::BrokerLimits broker_;
  absl::Duration call_timeout_ = kDefaultCallTimeout;
  absl::Duration handshake_timeout_ = kDefaultHandshakeTimeout;
  uint64_t heartbeat_interval_ms_ = kDefaultHeartbeatIntervalMs;
  uint64_t max_message_bytes_ = 0;
  uint64_t max_payload_bytes_ = 0;
  uint32_t max_concurrent_calls_ = 0;
  uint64_t open_files_ = 0;
};

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_EFFECTIVE_LIMITS_H_
