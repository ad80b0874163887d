#ifndef CORDON_LAUNCHER_HOST_PLUGIN_QUOTAS_H_
#define CORDON_LAUNCHER_HOST_PLUGIN_QUOTAS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "launcher/host/sandbox_spec_builder.h"
#include "launcher/quota/plugin_cgroup.h"
#include "launcher/quota/quota_accounting.h"
#include "launcher/quota/tmpfs_watch.h"
#include "launcher/sandbox/sandbox_process.h"
#include "launcher/supervisor/plugin_auditor.h"

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
  // Quotas the plan sets that this backend cannot enforce: "cpu_rate" without a cgroup (an
  // rlimit bounds CPU time, not a rate).
  const std::vector<std::string>& unenforced() const { return unenforced_; }
  // One line per problem met while setting up: a quota that is not enforced, a stale-cgroup
  // sweep that failed. For stderr and plugin.start's quota_notes; nothing here is dropped.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Starts watching the sandbox's size-capped /tmp: `tmp_dir_fd` is what the sandbox init
  // handed over (SandboxProcess::tmp_dir_fd; Attach asks for it with spec.report_tmp_dir). A
  // no-op when the plan has no /tmp tmpfs with a size; an error (the tmp_size record is then
  // impossible, the quota itself still holds) when the fd is missing or not a tmpfs. From
  // then on PollEvents and Collect report a full /tmp once as quota "tmp_size", "denied".
  absl::Status WatchTmp(int tmp_dir_fd);
  // Whether PollEvents can find anything while the plugin runs, i.e. whether the supervisor
  // should call it (once a second and when event_fd() fires).
  bool polls() const { return cgroup_ != nullptr || tmp_watch_ != nullptr; }
  // cgroup v1: moves the child into the cgroup (v2 uses CLONE_INTO_CGROUP instead).
  absl::Status PlaceInCgroup(pid_t pid);

  // A pollable fd that becomes readable when the cgroup may have seen a quota event (v1: an
  // OOM; v2: memory.events/pids.events changed), or -1 without a cgroup. v1 does not notify
  // pids refusals, so the supervisor also calls PollEvents about once a second.
  int event_fd();
  // The OOM kills, pids refusals and a full /tmp since the previous call (drains
  // event_fd()). Each is returned once; Collect marks them `recorded`. CPU throttling is left
  // to Collect: a CPU-bound plugin is throttled every period, and one total at the end says
  // enough.
  std::vector<quota::QuotaViolation> PollEvents();

  // Every quota hit of the plugin's life: cgroup counters (OOM kills, pids.max refusals,
  // throttling), a full /tmp, and rlimit signals (SIGXCPU, SIGXFSZ), the ones PollEvents
  // already returned marked `recorded`. Kills any leftover in the cgroup. peak_memory_bytes
  // falls back to the largest rusage when no cgroup tells. `launcher_killed`: the launcher
  // itself killed the sandbox (seccomp, wall time, audit failure, a host's kill), so a SIGKILL
  // death is that kill and never taken for RLIMIT_CPU's hard limit, however near the CPU time
  // is. Call once, after the sandbox is gone: it closes the /tmp watch's fd (which pins the
  // tmpfs and so its memory); the caller closes SandboxProcess's own with CloseTmpDir.
  std::vector<quota::QuotaViolation> Collect(const sandbox::ExitInfo& exit,
                                             uint64_t* peak_memory_bytes,
                                             bool launcher_killed = false);

  // The plugin's CPU time as the cgroup accounted it (exact, and it includes processes init
  // never reaped, e.g. when the whole sandbox was SIGKILLed), read by Collect; zero without a
  // cgroup. plugin.exit reports the larger of this and init's rusage.
  absl::Duration measured_cpu_time() const { return measured_cpu_time_; }

  // Writes `v` as its quota.violation record; `detail` is the backend's words (which give the
  // count themselves), else how many events the record stands for when more than one.
  static absl::Status Record(const quota::QuotaViolation& v, supervisor::PluginAuditor* auditor);

 private:
  PluginQuotas() = default;

  bool child_joins_ = false;  // the sandbox child writes itself into the v1 tasks files
  std::unique_ptr<quota::PluginCgroup> cgroup_;
  quota::QuotaLimits limits_;
  uint64_t cpu_time_seconds_ = 0;
  uint64_t file_size_bytes_ = 0;
  uint64_t tmp_size_bytes_ = 0;  // the plan's /tmp tmpfs size, 0 without one
  std::string backend_ = "rlimits";
  std::vector<std::string> unenforced_;
  std::vector<std::string> warnings_;
  std::unique_ptr<quota::TmpfsWatch> tmp_watch_;
  bool event_fd_tried_ = false;
  int event_fd_ = -1;
  // Counters as of the last PollEvents (throttling fields stay 0: see PollEvents), and what it
  // returned.
  quota::QuotaUsage polled_;
  absl::Duration measured_cpu_time_;
  std::vector<quota::QuotaViolation> prompt_;
};

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_PLUGIN_QUOTAS_H_
