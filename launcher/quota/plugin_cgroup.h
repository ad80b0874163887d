// The cgroup of one plugin: creation with limits, membership, whole-tree kill, accounting and
// removal. CgroupV2Backend and CgroupV1Backend implement it; Create picks one. See
// docs/quotas.md for the layout, the v2 no-internal-processes handling and the fallbacks.
#ifndef CORDON_LAUNCHER_QUOTA_PLUGIN_CGROUP_H_
#define CORDON_LAUNCHER_QUOTA_PLUGIN_CGROUP_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "launcher/quota/cgroup_event_watch.h"
#include "launcher/quota/quota_types.h"

namespace cordon::quota {

class PluginCgroup {
 public:
  // Picks v2 when a usable v2 hierarchy with the needed controllers (memory, pids, and cpu when
  // a CPU rate is set) exists, else v1, else FailedPrecondition naming what each backend lacks;
  // the caller then falls back to rlimits and says so. The cgroup is created at
  // <parent>/cordon/<launcher pid>.<launcher start time>.<seq>-<plugin name>, parent being
  // options.parent_override or our own cgroup.
  static absl::StatusOr<std::unique_ptr<PluginCgroup>> Create(const CgroupOptions& options,
                                                              std::string_view plugin_name,
                                                              const QuotaLimits& limits);

  PluginCgroup(const PluginCgroup&) = delete;
  PluginCgroup& operator=(const PluginCgroup&) = delete;
  // Removes the cgroup, killing leftovers first. Errors are swallowed here: call Remove() to
  // see them.
  virtual ~PluginCgroup();

  // Moves `pid` (the whole thread group) into the cgroup. The parent calls this while the
  // child waits on a pipe, before exec, so no plugin code ever runs outside its limits.
  virtual absl::Status AddProcess(pid_t pid) = 0;
  // v2: O_PATH|O_DIRECTORY|O_CLOEXEC fd usable with clone3 CLONE_INTO_CGROUP; v1: -1. Owned by
  // this object.
  virtual int clone_into_fd() const = 0;
  // v1: O_WRONLY|O_CLOEXEC fds of the `tasks` file in each hierarchy (owned by this object,
  // opened on first call), for a single-threaded child to join by writing "0": moving one
  // thread skips the RCU grace period a whole-process cgroup.procs write waits for. v2 (which
  // has clone_into_fd): empty.
  virtual absl::StatusOr<std::vector<int>> TaskFdsForSelfJoin() { return std::vector<int>(); }
  // Kills every process in the cgroup at once so that nothing can fork its way out: v2
  // cgroup.kill (or freeze, kill, thaw before 5.14); v1 freeze, SIGKILL every pid, thaw,
  // repeated until empty. Waits (bounded by options.kill_timeout_ms) until the cgroup is empty.
  virtual absl::Status KillAll() = 0;
  virtual absl::StatusOr<QuotaUsage> ReadUsage() const = 0;
  virtual absl::StatusOr<bool> IsEmpty() const = 0;
  // KillAll if needed, then rmdir (also of any cgroups created below it). Idempotent.
  virtual absl::Status Remove() = 0;
  // e.g. "cgroup v1 (memory,pids,cpu,cpuacct,freezer) /sys/fs/cgroup/memory/x/cordon/1.2.3-echo"
  virtual std::string Describe() const = 0;
  // 2 or 1, for the launcher's start record and for choosing clone3 CLONE_INTO_CGROUP.
  virtual int cgroup_version() const = 0;
  // fd (owned by this object) that polls readable when a quota event may have happened in the
  // cgroup: an OOM kill, a pids.max refusal, memory.max pressure. Put it in the supervisor's
  // epoll set; when it fires, call DrainEvents(), then ReadUsage() and DetectViolations().
  // Created on first call. See CgroupEventWatch for the sources per backend.
  absl::StatusOr<int> EventFd();
  void DrainEvents();
  // The limits this cgroup was created with.
  const QuotaLimits& limits() const { return limits_; }

 protected:
  PluginCgroup(const CgroupOptions& options, const QuotaLimits& limits)
      : options_(options), limits_(limits) {}
  // Leaf name for a new plugin cgroup of this launcher process.
  static absl::StatusOr<std::string> NewLeafName(const CgroupOptions& options,
                                                 absl::string_view plugin_name);

  // Registers this backend's event sources with `watch`.
  virtual absl::Status WatchEvents(CgroupEventWatch& watch) = 0;

  CgroupOptions options_;
  QuotaLimits limits_;
  std::unique_ptr<CgroupEventWatch> events_;
};

}  // namespace cordon::quota

#endif  // CORDON_LAUNCHER_QUOTA_PLUGIN_CGROUP_H_
