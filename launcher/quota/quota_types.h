// Plain data shared by the quota backends and their callers (supervisor, CLI).
#ifndef CORDON_LAUNCHER_QUOTA_QUOTA_TYPES_H_
#define CORDON_LAUNCHER_QUOTA_QUOTA_TYPES_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace cordon::quota {

// Limits a cgroup backend enforces. 0 means unlimited. The remaining quotas of a profile
// (CPU time, wall time, open files, file size, tmpfs size) are rlimits, watchdogs or mount
// options owned by the sandbox and supervisor.
struct QuotaLimits {
  uint64_t memory_bytes = 0;      // RAM; swap is capped so it cannot be used to dodge the limit
  uint64_t pids = 0;              // processes + threads
  uint32_t cpu_rate_percent = 0;  // CPU bandwidth, 100 = one full core, 250 = two and a half
};

// Counters read from the plugin's cgroup. Counters only ever grow while the cgroup lives, so
// a caller detects a new event by comparing two readings (see DetectViolations).
struct QuotaUsage {
  uint64_t oom_kills = 0;          // processes killed by the OOM killer inside the cgroup
  uint64_t memory_max_hits = 0;    // times the memory limit forced reclaim (v2 "max", v1 failcnt)
  uint64_t pids_max_hits = 0;      // fork/clone refused by pids.max
  uint64_t memory_peak_bytes = 0;  // 0 when the kernel does not report it
  uint64_t memory_current_bytes = 0;
  uint64_t pids_current = 0;
  uint64_t cpu_usage_ns = 0;           // user + system CPU time of the whole cgroup
  uint64_t cpu_throttled_periods = 0;  // CFS periods in which the rate limit stopped the group
  uint64_t cpu_throttled_ns = 0;
};

struct CgroupOptions {
  // Tests point these at a fake tree; mount points named in the mountinfo file are used as
  // they stand, so a fake mountinfo can name directories below a temp dir.
  std::string mountinfo_path = "/proc/self/mountinfo";
  std::string proc_self_cgroup_path = "/proc/self/cgroup";
  // Where /proc/<pid>/stat is read when deciding whether a launcher is still alive.
  std::string proc_root = "/proc";
  // Configured parent (absolute cgroup path such as "/cordon.slice"); empty = our own cgroup.
  std::string parent_override;
  // Test hook, called after every mkdir of a cgroup directory. The real kernel populates a new
  // cgroup with control files; a fake tree uses this to do the same. Leave empty in production.
  std::function<void(const std::string& dir)> on_mkdir_for_testing;
  // Test hook, called before every rmdir: a fake tree deletes its control files here, which
  // the kernel does by itself.
  std::function<void(const std::string& dir)> before_rmdir_for_testing;
  // Bound on how long KillAll waits for a cgroup to empty before giving up with an error.
  int kill_timeout_ms = 5000;
};

}  // namespace cordon::quota

#endif  // CORDON_LAUNCHER_QUOTA_QUOTA_TYPES_H_
