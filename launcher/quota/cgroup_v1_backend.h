// cgroup v1 backend: one directory per controller hierarchy (memory, pids, cpu, cpuacct,
// freezer), all at the same relative path below our own cgroup in that hierarchy.
#ifndef CORDON_LAUNCHER_QUOTA_CGROUP_V1_BACKEND_H_
#define CORDON_LAUNCHER_QUOTA_CGROUP_V1_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "launcher/quota/cgroup_fs.h"
#include "launcher/quota/plugin_cgroup.h"

namespace cordon::quota {

class CgroupV1Backend : public PluginCgroup {
 public:
  // One cgroup directory and the controllers its hierarchy carries.
  struct Dir {
    std::string path;
    std::vector<std::string> controllers;
  };

  // Creates `leaf_name` below <parent>/cordon in every hierarchy among `hierarchies` that
  // carries memory, pids, cpu, cpuacct or freezer, then writes the limits. Requires memory and
  // pids (and cpu when a rate is set); FailedPrecondition names what is missing.
  static absl::StatusOr<std::unique_ptr<CgroupV1Backend>> Create(
      const CgroupOptions& options, const std::vector<cgroupfs::Hierarchy>& hierarchies,
      absl::string_view leaf_name, const QuotaLimits& limits);
  // Takes ownership of existing directories (the stale sweeper uses this to kill and remove a
  // crashed launcher's cgroups with the same code path).
  static std::unique_ptr<CgroupV1Backend> Adopt(const CgroupOptions& options,
                                                std::vector<Dir> dirs);

  ~CgroupV1Backend() override;

  absl::Status AddProcess(pid_t pid) override;
  int clone_into_fd() const override { return -1; }
  absl::StatusOr<std::vector<int>> TaskFdsForSelfJoin() override;
  absl::Status KillAll() override;
  absl::StatusOr<QuotaUsage> ReadUsage() const override;
  absl::StatusOr<bool> IsEmpty() const override;
  absl::Status Remove() override;
  std::string Describe() const override;
  int cgroup_version() const override { return 1; }

  // Directory of the hierarchy carrying `controller`, or "" when none does.
  std::string DirOf(absl::string_view controller) const;

 private:
  absl::Status WatchEvents(CgroupEventWatch& watch) override;
  CgroupV1Backend(const CgroupOptions& options, const QuotaLimits& limits)
      : PluginCgroup(options, limits) {}
  absl::Status WriteLimits();
  absl::StatusOr<std::vector<pid_t>> ListPids() const;
  void CloseTaskFds();
  absl::Status SetFrozen(bool frozen);

  std::vector<Dir> dirs_;
  std::vector<int> task_fds_;  // see TaskFdsForSelfJoin
  bool removed_ = false;
};

}  // namespace cordon::quota

#endif  // CORDON_LAUNCHER_QUOTA_CGROUP_V1_BACKEND_H_
