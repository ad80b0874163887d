#ifndef CORDON_LAUNCHER_HOST_SANDBOX_SPEC_BUILDER_H_
#define CORDON_LAUNCHER_HOST_SANDBOX_SPEC_BUILDER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "cordon/v1/profile.pb.h"
#include "launcher/host/launch_overrides.h"
#include "launcher/quota/quota_types.h"
#include "launcher/sandbox/sandbox_spec.h"

namespace cordon::host {

// The effective profile plus flags, resolved into what the launcher needs.
struct SandboxPlan {
  sandbox::SandboxSpec spec;
  quota::QuotaLimits cgroup_limits;
  bool needs_cgroup = false;
  uint64_t wall_time_ms = 0;
  uint64_t cpu_time_seconds = 0;
  uint64_t file_size_bytes = 0;
  bool kill_on_violation = false;
  std::string cgroup_parent;
  // libseccomp's output came from the compiled cache (profiles::CompiledCache).
  bool seccomp_from_cache = false;
  // Set once per process when the cache directory cannot be used (the start goes on, it only
  // compiles): the caller says it where the operator will see it.
  std::string seccomp_cache_warning;
};

// Turns an effective profile and a launch's overrides into a SandboxPlan: the mount tree
// (profile mounts, then the extra binds), the clean environment (profile env, then the extra
// env), limits (overrides win), and the seccomp program compiled before fork with
// user notification so that every violation reaches the launcher.
class SandboxSpecBuilder {
 public:
  static absl::StatusOr<SandboxPlan> Build(const cordon::v1::Profile& profile,
                                           const LaunchOverrides& overrides);

  // Without a cgroup, memory and pids fall back to RLIMIT_AS and RLIMIT_NPROC.
  static void AddRlimitFallback(const SandboxPlan& plan, sandbox::SandboxSpec* spec);

  // PROGRAM as given when it contains a '/', else the first match in $PATH.
  static absl::StatusOr<std::string> ResolveProgram(const std::string& program);
};

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_SANDBOX_SPEC_BUILDER_H_
