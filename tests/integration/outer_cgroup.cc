#include "tests/integration/outer_cgroup.h"

#include <dirent.h>
#include <sys/resource.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "launcher/quota/cgroup_fs.h"
#include "tests/integration/cordon_runner.h"

namespace cordon::integration {
namespace {

// Directories of the cgroup Describe() names in every hierarchy: the same leaf below
// <our own cgroup>/cordon, which is a different path in each v1 hierarchy.
std::vector<std::string> DirsOf(const std::string& description) {
  size_t at = description.find(" /");
  if (at == std::string::npos) return {};
  const std::string named = description.substr(at + 1);
  const std::string leaf = named.substr(named.rfind('/') + 1);
  absl::StatusOr<std::vector<quota::cgroupfs::Hierarchy>> hierarchies =
      quota::cgroupfs::DiscoverHierarchies(quota::CgroupOptions{});
  if (!hierarchies.ok()) return {named};
  std::vector<std::string> dirs;
  for (const quota::cgroupfs::Hierarchy& h : *hierarchies) {
    std::optional<std::string> parent = h.DirFor(h.ParentPath(quota::CgroupOptions{}));
    if (!parent.has_value()) continue;
    std::string dir = absl::StrCat(*parent, "/", quota::cgroupfs::kCordonDir, "/", leaf);
    if (quota::cgroupfs::Exists(dir)) dirs.push_back(dir);
  }
  return dirs.empty() ? std::vector<std::string>{named} : dirs;
}

}  // namespace

absl::StatusOr<std::unique_ptr<OuterCgroup>> OuterCgroup::Create(const OuterLimits& limits) {
  quota::QuotaLimits quota_limits;
  quota_limits.memory_bytes = limits.memory_bytes;
  quota_limits.pids = limits.pids;
  quota_limits.cpu_rate_percent = limits.cpu_rate_percent;
  absl::StatusOr<std::unique_ptr<quota::PluginCgroup>> created =
      quota::PluginCgroup::Create(quota::CgroupOptions{}, "test-outer", quota_limits);
  if (!created.ok()) return created.status();
  std::unique_ptr<OuterCgroup> outer(new OuterCgroup());
  outer->cgroup_ = std::move(*created);
  if (outer->cgroup_->cgroup_version() == 1) {
    absl::StatusOr<std::vector<int>> fds = outer->cgroup_->TaskFdsForSelfJoin();
    if (!fds.ok()) return fds.status();
    outer->join_fds_ = *fds;
  }
  outer->dirs_ = DirsOf(outer->cgroup_->Describe());
  return outer;
}

std::vector<std::string> OuterCgroup::Leftovers() const {
  std::vector<std::string> leftovers;
  for (const std::string& dir : dirs_) {
    const std::string cordon_dir = dir + "/cordon";
    DIR* d = opendir(cordon_dir.c_str());
    if (d == nullptr) continue;
    while (struct dirent* entry = readdir(d)) {
      if (entry->d_type == DT_DIR && entry->d_name[0] != '.') {
        leftovers.push_back(absl::StrCat("cgroup ", cordon_dir, "/", entry->d_name));
      }
    }
    closedir(d);
  }
  if (dirs_.empty()) return leftovers;
  absl::StatusOr<std::vector<pid_t>> pids =
      quota::cgroupfs::ReadPids(dirs_.front() + "/cgroup.procs");
  if (!pids.ok()) {
    leftovers.push_back(absl::StrCat("cannot list the outer cgroup: ", pids.status().message()));
    return leftovers;
  }
  for (pid_t pid : *pids) {
    if (!WaitProcessGone(pid, absl::Seconds(5))) {
      leftovers.push_back(absl::StrCat("process ", pid, " still running in ", dirs_.front()));
    }
  }
  return leftovers;
}

void SetOuterRlimits() {
  struct rlimit fsize {
    1ull << 30, 1ull << 30
  };
  setrlimit(RLIMIT_FSIZE, &fsize);
  struct rlimit cpu {
    600, 600
  };
  setrlimit(RLIMIT_CPU, &cpu);
}

}  // namespace cordon::integration
