// Sweeps cgroups left behind by a launcher that crashed before removing them.
#ifndef CORDON_LAUNCHER_QUOTA_STALE_CGROUPS_H_
#define CORDON_LAUNCHER_QUOTA_STALE_CGROUPS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/quota/quota_types.h"

namespace cordon::quota {

// Looks at <parent>/cordon in every v2 hierarchy and in each v1 memory, pids, cpu, cpuacct and
// freezer hierarchy. A cgroup whose name encodes a launcher (pid + start time from
// /proc/<pid>/stat) that no longer runs is killed and removed; names that do not parse are
// not ours and are left alone, as are those of live launchers (including this one). Returns
// the directories removed. Removal errors are collected into one status after trying every
// candidate, so one stuck cgroup does not shield the others.
absl::StatusOr<std::vector<std::string>> RemoveStaleCgroups(const CgroupOptions& options);

}  // namespace cordon::quota

#endif  // CORDON_LAUNCHER_QUOTA_STALE_CGROUPS_H_
