#include "launcher/quota/stale_cgroups.h"

#include <dirent.h>
#include <errno.h>

#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "launcher/quota/cgroup_fs.h"
#include "launcher/quota/cgroup_v1_backend.h"
#include "launcher/quota/cgroup_v2_backend.h"

namespace cordon::quota {
namespace {

constexpr const char* kV1Controllers[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};
// A directory full of names is plugin-controlled only through our own naming, but cap the scan
// anyway so a pathological tree cannot make startup unbounded.
constexpr size_t kMaxEntries = 65536;

bool LauncherAlive(const std::string& proc_root, const cgroupfs::CgroupName& name) {
  absl::StatusOr<uint64_t> start = cgroupfs::ReadProcStartTime(proc_root, name.launcher_pid);
  return start.ok() && *start == name.launcher_start_time;
}

// Stale entries of one <parent>/cordon directory.
std::vector<std::string> StaleIn(const std::string& cordon_dir, const std::string& proc_root) {
  std::vector<std::string> out;
  DIR* d = opendir(cordon_dir.c_str());
  if (d == nullptr) return out;
  size_t seen = 0;
  while (dirent* e = readdir(d)) {
    if (++seen > kMaxEntries) break;
    if (e->d_type != DT_DIR) continue;
    std::optional<cgroupfs::CgroupName> name = cgroupfs::ParseCgroupName(e->d_name);
    if (!name.has_value()) continue;
    if (LauncherAlive(proc_root, *name)) continue;
    out.emplace_back(e->d_name);
  }
  closedir(d);
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> RemoveStaleCgroups(const CgroupOptions& options) {
  absl::StatusOr<std::vector<cgroupfs::Hierarchy>> hierarchies =
      cgroupfs::DiscoverHierarchies(options);
  if (!hierarchies.ok()) return hierarchies.status();
  std::vector<std::string> removed;
  std::vector<std::string> errors;
  auto cordon_dir_of = [&options](const cgroupfs::Hierarchy& h) -> std::optional<std::string> {
    std::optional<std::string> parent = h.DirFor(h.ParentPath(options));
    if (!parent.has_value()) return std::nullopt;
    return absl::StrCat(*parent, "/", cgroupfs::kCordonDir);
  };

  // v1: the same leaf name appears in several hierarchies; adopt them together so the freezer
  // is used while killing.
  std::map<std::string, std::vector<CgroupV1Backend::Dir>> v1;
  for (const cgroupfs::Hierarchy& h : *hierarchies) {
    std::optional<std::string> cordon_dir = cordon_dir_of(h);
    if (!cordon_dir.has_value()) continue;
    if (h.version == 2) {
      for (const std::string& leaf : StaleIn(*cordon_dir, options.proc_root)) {
        const std::string dir = absl::StrCat(*cordon_dir, "/", leaf);
        std::unique_ptr<CgroupV2Backend> cg = CgroupV2Backend::Adopt(options, dir);
        if (absl::Status s = cg->Remove(); !s.ok()) {
          errors.emplace_back(s.message());
        } else {
          removed.push_back(dir);
        }
      }
      continue;
    }
    bool relevant = false;
    for (const char* c : kV1Controllers) relevant |= h.Has(c);
    if (!relevant) continue;
    for (const std::string& leaf : StaleIn(*cordon_dir, options.proc_root)) {
      v1[leaf].push_back(CgroupV1Backend::Dir{absl::StrCat(*cordon_dir, "/", leaf), h.controllers});
    }
  }
  for (auto& [leaf, dirs] : v1) {
    std::vector<std::string> paths;
    for (const CgroupV1Backend::Dir& d : dirs) paths.push_back(d.path);
    std::unique_ptr<CgroupV1Backend> cg = CgroupV1Backend::Adopt(options, std::move(dirs));
    if (absl::Status s = cg->Remove(); !s.ok()) {
      errors.emplace_back(s.message());
    } else {
      removed.insert(removed.end(), paths.begin(), paths.end());
    }
  }
  if (!errors.empty()) {
    return absl::InternalError(absl::StrCat("removing stale cgroups: ", absl::StrJoin(errors, "; "),
                                            " (removed ", removed.size(), " others)"));
  }
  return removed;
}

}  // namespace cordon::quota
