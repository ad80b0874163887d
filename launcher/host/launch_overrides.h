#ifndef CORDON_LAUNCHER_HOST_LAUNCH_OVERRIDES_H_
#define CORDON_LAUNCHER_HOST_LAUNCH_OVERRIDES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cordon::host {

struct BindMount {
  std::string source;
  std::string destination;
  bool writable = false;
};

// Quota values that replace the profile's; unset fields keep the profile's value.
struct QuotaOverrides {
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> pids;
  std::optional<uint64_t> cpu_time_seconds;
  std::optional<uint32_t> cpu_rate_percent;
  std::optional<uint64_t> wall_time_ms;
  std::optional<uint64_t> open_files;
  std::optional<uint64_t> file_size_bytes;
  std::optional<uint64_t> tmp_size_bytes;
};

// What a caller adds to a profile for one launch: the command, extra environment, extra
// binds and quota overrides (from `cordon run` flags or a plugin manifest).
struct LaunchOverrides {
  std::vector<std::string> command;  // PROGRAM [ARG...]
  std::vector<std::string> env;      // KEY=VALUE, override the profile's by key
  std::vector<BindMount> binds;      // after the profile's mounts
  QuotaOverrides quotas;
  // cgroup under which the plugin's cgroup is created (absolute cgroup path, e.g.
  // "/cordon.slice"); empty: the launcher's own cgroup.
  std::string cgroup_parent;
  // Host fds that become fds 3, 4, ... in the program (e.g. the IPC channel).
  std::vector<int> pass_fds;
};

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_LAUNCH_OVERRIDES_H_
