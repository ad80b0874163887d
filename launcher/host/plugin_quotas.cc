#include "launcher/host/plugin_quotas.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "launcher/quota/stale_cgroups.h"

namespace cordon::host {

std::unique_ptr<PluginQuotas> PluginQuotas::Attach(SandboxPlan* plan,
                                                   const std::string& plugin_name,
                                                   std::string* fallback_note) {
  std::unique_ptr<PluginQuotas> quotas(new PluginQuotas());
  quotas->limits_ = plan->cgroup_limits;
  quotas->cpu_time_seconds_ = plan->cpu_time_seconds;
  quotas->file_size_bytes_ = plan->file_size_bytes;
  if (plan->needs_cgroup) {
    if (geteuid() != 0) {
      *fallback_note = "rootless: no cgroup can be delegated, memory and pids use rlimits";
    } else {
      quota::CgroupOptions options;
      options.parent_override = plan->cgroup_parent;
      (void)quota::RemoveStaleCgroups(options);
      absl::StatusOr<std::unique_ptr<quota::PluginCgroup>> created =
          quota::PluginCgroup::Create(options, plugin_name, plan->cgroup_limits);
      if (created.ok()) {
        quotas->cgroup_ = std::move(*created);
        quotas->backend_ = quotas->cgroup_->Describe();
        plan->spec.cgroup_fd = quotas->cgroup_->clone_into_fd();
        // v1: the child joins by itself as its first step (a launcher-side cgroup.procs
        // write waits for an RCU grace period, most of a start-up). Should the fds not open,
        // PlaceInCgroup does it the slow way.
        if (absl::StatusOr<std::vector<int>> fds = quotas->cgroup_->TaskFdsForSelfJoin();
            fds.ok() && !fds->empty()) {
          plan->spec.cgroup_v1_task_fds = *fds;
          quotas->child_joins_ = true;
        }
      } else {
        *fallback_note = std::string(created.status().message());
      }
    }
  }
  if (quotas->cgroup_ == nullptr) SandboxSpecBuilder::AddRlimitFallback(*plan, &plan->spec);
  return quotas;
}

PluginQuotas::~PluginQuotas() = default;

absl::Status PluginQuotas::PlaceInCgroup(pid_t pid) {
  if (cgroup_ == nullptr || cgroup_->clone_into_fd() >= 0 || child_joins_) {
    return absl::OkStatus();
  }
  return cgroup_->AddProcess(pid);
}

int PluginQuotas::event_fd() {
  if (cgroup_ == nullptr) return -1;
  if (!event_fd_tried_) {
    event_fd_tried_ = true;
    // Without one the hits are still found: by the periodic poll and at exit.
    absl::StatusOr<int> fd = cgroup_->EventFd();
    if (fd.ok()) event_fd_ = *fd;
  }
  return event_fd_;
}

std::vector<quota::QuotaViolation> PluginQuotas::PollEvents() {
  std::vector<quota::QuotaViolation> fresh;
  if (cgroup_ == nullptr) return fresh;
  if (event_fd_ >= 0) cgroup_->DrainEvents();
  absl::StatusOr<quota::QuotaUsage> usage = cgroup_->ReadUsage();
  if (!usage.ok()) return fresh;
  for (quota::QuotaViolation& v : quota::DetectViolations(limits_, polled_, *usage)) {
    if (v.quota == "cpu_rate") continue;
    fresh.push_back(v);
    v.recorded = true;
    prompt_.push_back(std::move(v));
  }
  quota::QuotaUsage throttling_untouched = *usage;
  throttling_untouched.cpu_throttled_periods = polled_.cpu_throttled_periods;
  throttling_untouched.cpu_throttled_ns = polled_.cpu_throttled_ns;
  polled_ = throttling_untouched;
  return fresh;
}

std::vector<quota::QuotaViolation> PluginQuotas::Collect(const sandbox::ExitInfo& exit,
                                                         uint64_t* peak_memory_bytes) {
  std::vector<quota::QuotaViolation> violations = prompt_;
  *peak_memory_bytes = exit.max_rss_bytes;
  uint64_t cpu_ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(exit.cpu_time));
  if (cgroup_ != nullptr) {
    absl::StatusOr<quota::QuotaUsage> usage = cgroup_->ReadUsage();
    if (usage.ok()) {
      for (quota::QuotaViolation& v : quota::DetectViolations(limits_, polled_, *usage)) {
        violations.push_back(std::move(v));
      }
      if (usage->memory_peak_bytes > 0) *peak_memory_bytes = usage->memory_peak_bytes;
      // The cgroup's accounting is exact; rusage is sampled and reads low.
      cpu_ms = std::max<uint64_t>(cpu_ms, usage->cpu_usage_ns / 1000000);
    }
    (void)cgroup_->KillAll();
  }
  // SIGXCPU/SIGXFSZ cannot be sent by a sandboxed process (the seccomp prologue refuses it), so
  // such a death is the kernel enforcing an rlimit. CPU time must also be near the limit: a
  // program could lower its own RLIMIT_CPU, which is not cordon's quota. "Near" has a margin:
  // the kernel checks RLIMIT_CPU against tick-sampled user+system time, while cpu_ms is the
  // scheduler's exact runtime, and on a loaded machine the sampled clock runs ahead (a kill at
  // 899 ms of exact runtime under a 1 s limit was seen). A program can only lower its limit by
  // whole seconds (never below 1 s), so a margin of 500 ms, or a tenth of the limit when that
  // is larger, still tells the two apart for limits up to 10 s.
  int sig = exit.signal();
  const uint64_t limit_ms = cpu_time_seconds_ * 1000;
  const uint64_t margin_ms = std::max<uint64_t>(500, limit_ms / 10);
  if (cpu_time_seconds_ > 0 && (sig == SIGXCPU || sig == SIGKILL) &&
      cpu_ms + margin_ms >= limit_ms) {
    violations.push_back({"cpu_time", limit_ms, cpu_ms, "killed", 1});
  }
  // Only with a file_size quota set: otherwise a program that lowered its own RLIMIT_FSIZE
  // could dress its death up as a quota kill.
  if (sig == SIGXFSZ && file_size_bytes_ > 0) {
    violations.push_back({"file_size", file_size_bytes_, std::nullopt, "killed", 1});
  }
  return violations;
}

}  // namespace cordon::host
