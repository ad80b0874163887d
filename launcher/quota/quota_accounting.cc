#include "launcher/quota/quota_accounting.h"

#include "absl/strings/str_cat.h"

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
    // `observed` (the rate used) needs the wall time, which only the caller knows.
    const uint64_t periods = now.cpu_throttled_periods - before.cpu_throttled_periods;
    const uint64_t throttled_ms = now.cpu_throttled_ns > before.cpu_throttled_ns
                                      ? (now.cpu_throttled_ns - before.cpu_throttled_ns) / 1000000
                                      : 0;
    out.push_back({"cpu_rate", limits.cpu_rate_percent, std::nullopt, "throttled", periods, false,
                   absl::StrCat("throttled in ", periods, " periods of 100 ms, ", throttled_ms,
                                " ms in total")});
  }
  return out;
}

}  // namespace cordon::quota
