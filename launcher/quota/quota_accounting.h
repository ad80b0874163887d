// Turns two readings of a plugin cgroup's counters into the quota violations that happened in
// between, ready to become `quota.violation` audit records.
#ifndef CORDON_LAUNCHER_QUOTA_QUOTA_ACCOUNTING_H_
#define CORDON_LAUNCHER_QUOTA_QUOTA_ACCOUNTING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "launcher/quota/quota_types.h"

namespace cordon::quota {

struct QuotaViolation {
  std::string quota;                 // "memory", "pids", "cpu_rate", "tmp_size", ...
  uint64_t limit = 0;                // in the quota's unit: bytes, tasks, percent of a core
  std::optional<uint64_t> observed;  // what was seen, when the kernel tells us
  std::string action;                // "killed", "denied", "throttled"
  uint64_t count = 0;                // how many events since the previous reading
  // Already written while the plugin ran (a prompt event); kept in the final list only so the
  // caller still knows, e.g., that the plugin was OOM-killed.
  bool recorded = false;
  // What the record's `detail` says beyond the count, e.g. cpu_rate's throttled time.
  std::string detail = "";
};

// Violations between `before` and `now` (readings of the same cgroup, `before` first; a
// default QuotaUsage for the first call). Counters that went down (a different cgroup) yield
// nothing rather than a bogus count. cpu_rate throttling is reported per reading, so callers
// that poll often should rate-limit those records.
std::vector<QuotaViolation> DetectViolations(const QuotaLimits& limits, const QuotaUsage& before,
                                             const QuotaUsage& now);

}  // namespace cordon::quota

#endif  // CORDON_LAUNCHER_QUOTA_QUOTA_ACCOUNTING_H_
