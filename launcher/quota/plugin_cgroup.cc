#include "launcher/quota/plugin_cgroup.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "launcher/quota/cgroup_fs.h"
#include "launcher/quota/cgroup_v1_backend.h"
#include "launcher/quota/cgroup_v2_backend.h"

namespace cordon::quota {

PluginCgroup::~PluginCgroup() = default;

absl::StatusOr<int> PluginCgroup::EventFd() {
  if (events_ == nullptr) {
    absl::StatusOr<std::unique_ptr<CgroupEventWatch>> w = CgroupEventWatch::Create();
    if (!w.ok()) return w.status();
    if (absl::Status s = WatchEvents(**w); !s.ok()) return s;
    events_ = std::move(*w);
  }
  return events_->fd();
}

void PluginCgroup::DrainEvents() {
  if (events_ != nullptr) events_->Drain();
}

absl::StatusOr<std::string> PluginCgroup::NewLeafName(const CgroupOptions& options,
                                                      absl::string_view plugin_name) {
  // The start time makes the name unique to this launcher incarnation, so the stale sweeper
  // can tell our cgroups from a crashed launcher's even when its pid was reused.
  static std::atomic<uint64_t> seq{0};
  const pid_t self = getpid();
  absl::StatusOr<uint64_t> start = cgroupfs::ReadProcStartTime(options.proc_root, self);
  if (!start.ok()) return start.status();
  return cgroupfs::FormatCgroupName(
      cgroupfs::CgroupName{.launcher_pid = self,
                           .launcher_start_time = *start,
                           .seq = seq.fetch_add(1, std::memory_order_relaxed),
                           .plugin = std::string(plugin_name)});
}

absl::StatusOr<std::unique_ptr<PluginCgroup>> PluginCgroup::Create(const CgroupOptions& options,
                                                                   std::string_view plugin_name_std,
                                                                   const QuotaLimits& limits) {
  const absl::string_view plugin_name(plugin_name_std.data(), plugin_name_std.size());
  absl::StatusOr<std::vector<cgroupfs::Hierarchy>> hierarchies =
      cgroupfs::DiscoverHierarchies(options);
  if (!hierarchies.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot discover cgroup hierarchies: ", hierarchies.status().message()));
  }
  absl::StatusOr<std::string> leaf = NewLeafName(options, plugin_name);
  if (!leaf.ok()) return leaf.status();

  std::string v2_error = "cgroup v2: no cgroup2 mount containing our cgroup";
  for (const cgroupfs::Hierarchy& h : *hierarchies) {
    if (h.version != 2) continue;
    absl::StatusOr<std::unique_ptr<CgroupV2Backend>> cg =
        CgroupV2Backend::Create(options, h, *leaf, limits);
    if (cg.ok()) return std::unique_ptr<PluginCgroup>(std::move(*cg));
    v2_error = std::string(cg.status().message());
  }
  absl::StatusOr<std::unique_ptr<CgroupV1Backend>> v1 =
      CgroupV1Backend::Create(options, *hierarchies, *leaf, limits);
  if (v1.ok()) return std::unique_ptr<PluginCgroup>(std::move(*v1));
  return absl::FailedPreconditionError(absl::StrCat(
      "no usable cgroup for plugin '", plugin_name, "' (", v2_error, "; ", v1.status().message(),
      "); quotas fall back to rlimits, which cannot bound a process tree's memory or count"));
}

}  // namespace cordon::quota
