#include "launcher/quota/quota_accounting.h"

namespace cordon::quota {

std::vector<QuotaViolation> DetectViolations(const QuotaLimits& limits, const QuotaUsage& before,
                                             const QuotaUsage& now) {
  std::vector<QuotaViolation> out;
  if (now.oom_kills > before.oom_kills) {
    std::optional<uint64_t> peak;
    if (now.memory_peak_bytes > 0) peak = now.memory_peak_bytes;
    out.push_back(
        {"memory", limits.memory_bytes, peak, "killed", now.oom_kills - before.oom_kills});
  }
  if (now.pids_max_hits > before.pids_max_hits) {
    // A refused fork means the group stood at its limit at that moment.
    out.push_back({"pids", limits.pids,
                   limits.pids > 0 ? std::optional<uint64_t>(limits.pids) : std::nullopt, "denied",
                   now.pids_max_hits - before.pids_max_hits});
  }
  if (now.cpu_throttled_periods > before.cpu_throttled_periods) {
    out.push_back({"cpu_rate", limits.cpu_rate_percent, std::nullopt, "throttled",
                   now.cpu_throttled_periods - before.cpu_throttled_periods});
  }
  return out;
}

}  // namespace cordon::quota
