#include "launcher/host/effective_limits.h"

#include <algorithm>
#include <optional>

namespace cordon::host {
namespace {

// The manifest's request within `bound` (0: no bound); unset when the manifest asks nothing.
std::optional<uint64_t> Tighter(uint64_t requested, uint64_t bound) {
  if (requested == 0) return std::nullopt;
  if (bound != 0 && requested > bound) return bound;
  return requested;
}

// As Tighter, for a host default that always exists.
uint64_t WithinDefault(uint64_t requested, uint64_t host_default) {
  return requested == 0 ? host_default : std::min(requested, host_default);
}

}  // namespace

EffectiveLimits::EffectiveLimits(const cordon::v1::Manifest& manifest,
                                 const cordon::v1::Profile& profile,
                                 const broker::BrokerLimits& host_broker)
    : broker_(host_broker) {
  const cordon::v1::PluginLimits& asked = manifest.limits();
  const cordon::v1::Limits& bound = profile.limits();
  quotas_.memory_bytes = Tighter(asked.memory_bytes(), bound.memory_bytes());
  quotas_.pids = Tighter(asked.pids(), bound.pids());
  quotas_.cpu_time_seconds = Tighter(asked.cpu_time_seconds(), bound.cpu_time_seconds());
  quotas_.wall_time_ms = Tighter(asked.wall_time_ms(), bound.wall_time_ms());
  quotas_.open_files = Tighter(asked.open_files(), bound.open_files());
  open_files_ = quotas_.open_files.value_or(bound.open_files());

  if (asked.broker_requests_per_second() > 0 &&
      (broker_.requests_per_second <= 0 ||
       asked.broker_requests_per_second() < broker_.requests_per_second)) {
    broker_.requests_per_second = asked.broker_requests_per_second();
  }
  // Timeouts are the plugin's own business (they bound how long a host waits for it), so the
  // manifest may set them either way.
  if (asked.call_timeout_ms() > 0) call_timeout_ = absl::Milliseconds(asked.call_timeout_ms());
  if (asked.handshake_timeout_ms() > 0) {
    handshake_timeout_ = absl::Milliseconds(asked.handshake_timeout_ms());
  }
  if (asked.heartbeat_interval_ms() > 0) heartbeat_interval_ms_ = asked.heartbeat_interval_ms();

  const ipc::PluginSession::Options host;
  max_message_bytes_ = WithinDefault(asked.max_message_bytes(), host.channel.max_datagram_bytes);
  max_payload_bytes_ = WithinDefault(asked.max_payload_bytes(), host.max_payload_bytes);
  max_concurrent_calls_ =
      static_cast<uint32_t>(WithinDefault(asked.max_concurrent_calls(), host.max_concurrent_calls));
}

void EffectiveLimits::ApplyTo(ipc::PluginSession::Options* options) const {
  options->channel.max_datagram_bytes = max_message_bytes_;
  // An inline payload must fit in one datagram with its envelope: above half the cap, inputs
  // go as memfds (the SDKs do the same with results).
  options->inline_threshold = std::min<size_t>(options->inline_threshold, max_message_bytes_ / 2);
  options->max_payload_bytes = max_payload_bytes_;
  options->max_concurrent_calls = max_concurrent_calls_;
  options->heartbeat_timeout = heartbeat_timeout();
}

cordon::v1::PluginLimits EffectiveLimits::Announced(const SandboxPlan& plan) const {
  cordon::v1::PluginLimits limits;
  limits.set_memory_bytes(plan.cgroup_limits.memory_bytes);
  limits.set_pids(plan.cgroup_limits.pids);
  limits.set_cpu_time_seconds(plan.cpu_time_seconds);
  limits.set_wall_time_ms(plan.wall_time_ms);
  limits.set_call_timeout_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(call_timeout_)));
  limits.set_handshake_timeout_ms(
      static_cast<uint64_t>(absl::ToInt64Milliseconds(handshake_timeout_)));
  limits.set_max_message_bytes(max_message_bytes_);
  limits.set_max_payload_bytes(max_payload_bytes_);
  limits.set_max_concurrent_calls(max_concurrent_calls_);
  limits.set_broker_requests_per_second(
      static_cast<uint32_t>(std::max(0.0, broker_.requests_per_second)));
  limits.set_heartbeat_interval_ms(heartbeat_interval_ms_);
  limits.set_open_files(open_files_);
  return limits;
}

}  // namespace cordon::host
