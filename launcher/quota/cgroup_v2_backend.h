// cgroup v2 backend: one leaf cgroup per plugin below <parent>/cordon, controllers enabled
// through cgroup.subtree_control on the way down.
#ifndef CORDON_LAUNCHER_QUOTA_CGROUP_V2_BACKEND_H_
#define CORDON_LAUNCHER_QUOTA_CGROUP_V2_BACKEND_H_

#include <memory>
#include <string>

#include "launcher/quota/cgroup_fs.h"
#include "launcher/quota/plugin_cgroup.h"

namespace cordon::quota {

class CgroupV2Backend : public PluginCgroup {
 public:
  // Checks that the parent offers memory and pids (and cpu when a rate is set), enables them
  // in the parent and in <parent>/cordon, creates <parent>/cordon/<leaf_name> and writes the
  // limits. FailedPrecondition explains what is missing.
  static absl::StatusOr<std::unique_ptr<CgroupV2Backend>> Create(
      const CgroupOptions& options, const cgroupfs::Hierarchy& hierarchy,
      absl::string_view leaf_name, const QuotaLimits& limits);
  // Takes ownership of an existing cgroup directory (used by the stale sweeper).
  static std::unique_ptr<CgroupV2Backend> Adopt(const CgroupOptions& options, std::string dir);

  ~CgroupV2Backend() override;

  absl::Status AddProcess(pid_t pid) override;
  int clone_into_fd() const override { return dir_fd_; }
  absl::Status KillAll() override;
  absl::StatusOr<QuotaUsage> ReadUsage() const override;
  absl::StatusOr<bool> IsEmpty() const override;
  absl::Status Remove() override;
  std::string Describe() const override;
  int cgroup_version() const override { return 2; }

  const std::string& dir() const { return dir_; }

 private:
  absl::Status WatchEvents(CgroupEventWatch& watch) override;
  CgroupV2Backend(const CgroupOptions& options, const QuotaLimits& limits)
      : PluginCgroup(options, limits) {}
  absl::Status WriteLimits();
  absl::Status FreezeKillThaw();
  absl::Status WaitUntil(absl::string_view key, uint64_t value);

  std::string dir_;
  std::string controllers_;  // as enabled, for Describe()
  int dir_fd_ = -1;
  bool removed_ = false;
};

}  // namespace cordon::quota

#endif  // CORDON_LAUNCHER_QUOTA_CGROUP_V2_BACKEND_H_
