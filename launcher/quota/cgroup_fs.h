// Small, bounded helpers over cgroupfs and procfs: control-file I/O, parsers for mountinfo,
// /proc/<pid>/cgroup, flat-keyed control files and /proc/<pid>/stat, and the naming scheme of
// plugin cgroups. Free functions, no state; both backends and the stale sweeper share them.
#ifndef CORDON_LAUNCHER_QUOTA_CGROUP_FS_H_
#define CORDON_LAUNCHER_QUOTA_CGROUP_FS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "launcher/quota/quota_types.h"

namespace cordon::quota::cgroupfs {

// Control files are tiny; proc files we read (mountinfo, cgroup) are bounded by the number of
// mounts. Anything bigger than this is refused rather than read unbounded.
inline constexpr size_t kMaxFileBytes = 1 << 20;
// Directory that holds every plugin cgroup below the parent.
inline constexpr absl::string_view kCordonDir = "cordon";
inline constexpr size_t kMaxPluginNameInCgroup = 48;
// v2 leaf the launcher moves itself into when its own cgroup must enable controllers (the
// no-internal-processes rule; docs/quotas.md).
inline constexpr absl::string_view kLauncherLeaf = "cordon-launcher";

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t cap = kMaxFileBytes);
// Writes `value` in a single write(2) as cgroupfs requires. Never creates the file: a missing
// control file means the controller is not there, which must surface as an error.
absl::Status WriteFile(const std::string& path, absl::string_view value);
bool Exists(const std::string& path);

absl::StatusOr<uint64_t> ParseUint(absl::string_view text);
// "key value" lines (memory.events, pids.events, cpu.stat, memory.oom_control).
absl::StatusOr<std::map<std::string, uint64_t, std::less<>>> ParseFlatKeyed(absl::string_view text);
absl::StatusOr<uint64_t> ReadUint(const std::string& path);
// Value of `key` in a flat-keyed file; NotFound when the file or key is absent.
absl::StatusOr<uint64_t> ReadKey(const std::string& path, absl::string_view key);
// PIDs listed in a cgroup.procs / tasks file.
absl::StatusOr<std::vector<pid_t>> ReadPids(const std::string& path);

struct Mount {
  std::string root;                  // path inside the hierarchy that is mounted (usually "/")
  std::string mount_point;           // unescaped
  std::string fstype;                // "cgroup" or "cgroup2"
  std::vector<std::string> options;  // super options: v1 controller names live here
};
absl::StatusOr<std::vector<Mount>> ParseMountinfo(absl::string_view text);

struct ProcCgroupEntry {
  int hierarchy_id = 0;
  std::vector<std::string> controllers;  // empty for the v2 line "0::/path"
  std::string path;
};
absl::StatusOr<std::vector<ProcCgroupEntry>> ParseProcCgroup(absl::string_view text);

// One mounted hierarchy, resolved against our own membership in it.
struct Hierarchy {
  int version = 1;
  std::vector<std::string> controllers;  // v1 only
  std::string mount_point;
  std::string mount_root;
  std::string own_path;  // our cgroup in this hierarchy, as /proc/self/cgroup shows it
  bool Has(absl::string_view controller) const;
  // Directory of `cgroup_path` (absolute in the hierarchy), or nullopt when the mount does not
  // expose it (the mount root is below it).
  std::optional<std::string> DirFor(absl::string_view cgroup_path) const;
  // The cgroup below which cordon/ lives: the configured parent, else our own cgroup, except
  // that in v2 a launcher that already moved itself into kLauncherLeaf keeps using the
  // cgroup above that leaf (otherwise every Create would nest one level deeper).
  std::string ParentPath(const CgroupOptions& options) const;
};
// Every cgroup hierarchy that is both mounted and listed in /proc/self/cgroup (named v1
// hierarchies such as name=systemd are skipped; they carry no controllers).
absl::StatusOr<std::vector<Hierarchy>> DiscoverHierarchies(const CgroupOptions& options);

// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot). NotFound when the
// process is gone.
absl::StatusOr<uint64_t> ReadProcStartTime(const std::string& proc_root, pid_t pid);

// Keeps [A-Za-z0-9_-], maps the rest to '_', caps the length; never empty.
std::string SanitisePluginName(absl::string_view name);

// "<launcher pid>.<launcher start time>.<seq>-<sanitised plugin name>".
struct CgroupName {
  pid_t launcher_pid = 0;
  uint64_t launcher_start_time = 0;
  uint64_t seq = 0;
  std::string plugin;
};
std::string FormatCgroupName(const CgroupName& name);
std::optional<CgroupName> ParseCgroupName(absl::string_view text);

// mkdir(dir, 0755); EEXIST is success when `exist_ok`. Calls the test hook after a creation.
absl::Status MakeDir(const std::string& dir, bool exist_ok, const CgroupOptions& options);
// rmdir of `dir` and any cgroups a plugin created below it, deepest first. ENOENT is success.
absl::Status RemoveTree(const std::string& dir, const CgroupOptions& options);

}  // namespace cordon::quota::cgroupfs

#endif  // CORDON_LAUNCHER_QUOTA_CGROUP_FS_H_
