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
  for (const sandbox::MountSpec& mount : plan->spec.mounts) {
    if (mount.kind == sandbox::MountSpec::Kind::kTmpfs && mount.destination == "/tmp") {
      quotas->tmp_size_bytes_ = mount.size_bytes;
    }
  }
  // The sandbox's init hands its /tmp over for WatchTmp.
  plan->spec.report_tmp_dir = quotas->tmp_size_bytes_ > 0;
  const bool rootless = geteuid() != 0;
  if (plan->needs_cgroup) {
    if (rootless) {
      *fallback_note = "rootless: no cgroup can be delegated, memory and pids use rlimits";
    } else {
      quota::CgroupOptions options;
      options.parent_override = plan->cgroup_parent;
      // A failed sweep does not stop this plugin (its own cgroup is separate), but it leaves
      // processes or cgroups of a crashed launcher behind, which the operator must hear of.
      if (absl::StatusOr<std::vector<std::string>> swept = quota::RemoveStaleCgroups(options);
          !swept.ok()) {
        quotas->warnings_.push_back(
            absl::StrCat("stale cgroup sweep failed: ", swept.status().message()));
      }
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
  if (quotas->cgroup_ == nullptr) {
    SandboxSpecBuilder::AddRlimitFallback(*plan, &plan->spec);
    if (quotas->limits_.cpu_rate_percent > 0) {
      quotas->unenforced_.push_back("cpu_rate");
      quotas->warnings_.push_back(absl::StrCat(
          "cpu_rate ", quotas->limits_.cpu_rate_percent, "% is NOT enforced: ",
          rootless ? "rootless cordon has no cgroup" : "no cgroup could be created",
          " and no rlimit caps a CPU rate; run as root with a cgroup cpu controller, or bound "
          "CPU time with --cpu-time"));
    }
  }
  return quotas;
}

absl::Status PluginQuotas::WatchTmp(int tmp_dir_fd) {
  if (tmp_size_bytes_ == 0) return absl::OkStatus();
  if (tmp_dir_fd < 0) {
    return absl::FailedPreconditionError(
        "a full /tmp (tmp_size quota) cannot be recorded: the sandbox did not hand over its "
        "/tmp");
  }
  absl::StatusOr<std::unique_ptr<quota::TmpfsWatch>> watch =
      quota::TmpfsWatch::Adopt(tmp_dir_fd, tmp_size_bytes_);
  if (!watch.ok()) {
    return absl::Status(watch.status().code(),
                        absl::StrCat("a full /tmp (tmp_size quota) cannot be recorded: ",
                                     watch.status().message()));
  }
  tmp_watch_ = std::move(*watch);
  return absl::OkStatus();
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
  if (tmp_watch_ != nullptr) {
    if (std::optional<quota::QuotaViolation> full = tmp_watch_->Check(); full.has_value()) {
      fresh.push_back(*full);
      full->recorded = true;
      prompt_.push_back(std::move(*full));
    }
  }
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
                                                         uint64_t* peak_memory_bytes,
                                                         bool launcher_killed) {
  std::vector<quota::QuotaViolation> violations = prompt_;
  *peak_memory_bytes = exit.max_rss_bytes;
  uint64_t cpu_ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(exit.cpu_time));
  if (cgroup_ != nullptr) {
    absl::StatusOr<quota::QuotaUsage> usage = cgroup_->ReadUsage();
    if (usage.ok()) {
      const int64_t wall_ns = absl::ToInt64Nanoseconds(exit.wall_time);
      for (quota::QuotaViolation& v : quota::DetectViolations(limits_, polled_, *usage)) {
        // The rate the plugin got over its life, in the limit's unit (percent of one core).
        if (v.quota == "cpu_rate" && wall_ns > 0) {
          v.observed =
              static_cast<uint64_t>((static_cast<unsigned __int128>(usage->cpu_usage_ns) * 100) /
                                    static_cast<uint64_t>(wall_ns));
        }
        violations.push_back(std::move(v));
      }
      if (usage->memory_peak_bytes > 0) *peak_memory_bytes = usage->memory_peak_bytes;
      // The cgroup's accounting is exact; rusage is sampled and reads low.
      cpu_ms = std::max<uint64_t>(cpu_ms, usage->cpu_usage_ns / 1000000);
      measured_cpu_time_ = absl::Nanoseconds(usage->cpu_usage_ns);
    }
    (void)cgroup_->KillAll();
  }
  // The watch's fd keeps the tmpfs readable after the sandbox is gone: a fill just before the
  // exit is still seen.
  if (tmp_watch_ != nullptr) {
    if (std::optional<quota::QuotaViolation> full = tmp_watch_->Check(); full.has_value()) {
      violations.push_back(std::move(*full));
    }
    // That was the last look: the fd would keep the dead sandbox's tmpfs, and what the plugin
    // left in it, in memory for as long as this object lives (a loaded plugin's entry).
    tmp_watch_.reset();
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
  // A SIGKILL the launcher sent itself is its own kill, recorded under its own reason.
  const bool hard_limit_kill = sig == SIGKILL && !launcher_killed;
  if (cpu_time_seconds_ > 0 && (sig == SIGXCPU || hard_limit_kill) &&
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

absl::Status PluginQuotas::Record(const quota::QuotaViolation& v,
                                  supervisor::PluginAuditor* auditor) {
  std::string detail = v.detail;
  if (detail.empty() && v.count > 1) detail = absl::StrCat(v.count, " events");
  return auditor->RecordQuota(v.quota, v.limit, v.observed, v.action, detail);
}

}  // namespace cordon::host
