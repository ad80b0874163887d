#ifndef CORDON_LAUNCHER_HOST_PLUGIN_QUOTAS_H_
#define CORDON_LAUNCHER_HOST_PLUGIN_QUOTAS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "launcher/host/sandbox_spec_builder.h"
#include "launcher/quota/plugin_cgroup.h"
#include "launcher/quota/quota_accounting.h"
#include "launcher/sandbox/sandbox_process.h"

namespace cordon::host {

// The quota backend of one plugin: its cgroup when one can be had (root, with a usable v2 or
// v1 hierarchy), rlimits otherwise. Owns the cgroup and removes it on destruction.
class PluginQuotas {
 public:
  // Creates the cgroup (after sweeping cgroups left by a crashed launcher) or falls back to
  // rlimits, adjusting plan->spec either way. `fallback_note` receives why there is no cgroup
  // when the plan wanted one.
  static std::unique_ptr<PluginQuotas> Attach(SandboxPlan* plan, const std::string& plugin_name,
                                              std::string* fallback_note);
  ~PluginQuotas();

  const std::string& backend() const { return backend_; }
  bool has_cgroup() const { return cgroup_ != nullptr; }
  // cgroup v1: moves the child into the cgroup (v2 uses CLONE_INTO_CGROUP instead).
  absl::Status PlaceInCgroup(pid_t pid);

  // A pollable fd that becomes readable when the cgroup may have seen a quota event (v1: an
  // OOM; v2: memory.events/pids.events changed), or -1 without a cgroup. v1 does not notify
  // pids refusals, so the supervisor also calls PollEvents about once a second.
  int event_fd();
  // The OOM kills and pids refusals since the previous call (drains event_fd()). Each is
  // returned once; Collect marks them `recorded`. CPU throttling is left to Collect: a
  // CPU-bound plugin is throttled every period, and one total at the end says enough.
  std::vector<quota::QuotaViolation> PollEvents();

  // Every quota hit of the plugin's life: cgroup counters (OOM kills, pids.max refusals,
  // throttling) and rlimit signals (SIGXCPU, SIGXFSZ), the ones PollEvents already returned
  // marked `recorded`. Kills any leftover in the cgroup. peak_memory_bytes falls back to the
  // largest rusage when no cgroup tells.
  std::vector<quota::QuotaViolation> Collect(const sandbox::ExitInfo& exit,
                                             uint64_t* peak_memory_bytes);

 private:
  PluginQuotas() = default;

  bool child_joins_ = false;  // the sandbox child writes itself into the v1 tasks files
  std::unique_ptr<quota::PluginCgroup> cgroup_;
  quota::QuotaLimits limits_;
  uint64_t cpu_time_seconds_ = 0;
  uint64_t file_size_bytes_ = 0;
  std::string backend_ = "rlimits";
  bool event_fd_tried_ = false;
  int event_fd_ = -1;
  // Counters as of the last PollEvents (throttling fields stay 0: see PollEvents), and what it
  // returned.
  quota::QuotaUsage polled_;
  std::vector<quota::QuotaViolation> prompt_;
};

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_PLUGIN_QUOTAS_H_
