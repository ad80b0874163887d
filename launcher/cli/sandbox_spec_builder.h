#ifndef CORDON_LAUNCHER_CLI_SANDBOX_SPEC_BUILDER_H_
#define CORDON_LAUNCHER_CLI_SANDBOX_SPEC_BUILDER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "cordon/v1/profile.pb.h"
#include "launcher/cli/run_flags.h"
#include "launcher/quota/quota_types.h"
#include "launcher/sandbox/sandbox_spec.h"

namespace cordon::cli {

// The effective profile plus flags, resolved into what the launcher needs.
struct SandboxPlan {
  sandbox::SandboxSpec spec;
  quota::QuotaLimits cgroup_limits;
  bool needs_cgroup = false;
  uint64_t wall_time_ms = 0;
  uint64_t cpu_time_seconds = 0;
  uint64_t file_size_bytes = 0;
  bool kill_on_violation = false;
};

// Turns an effective profile and the `cordon run` flags into a SandboxPlan: the mount tree
// (profile mounts, then --ro-bind/--bind), the clean environment (profile env, then --env),
// limits (flags override the profile), and the seccomp program compiled before fork with
// user notification so that every violation reaches the launcher.
class SandboxSpecBuilder {
 public:
  static absl::StatusOr<SandboxPlan> Build(const cordon::v1::Profile& profile,
                                           const RunFlags& flags);

  // Without a cgroup, memory and pids fall back to RLIMIT_AS and RLIMIT_NPROC.
  static void AddRlimitFallback(const SandboxPlan& plan, sandbox::SandboxSpec* spec);

  // PROGRAM as given when it contains a '/', else the first match in $PATH.
  static absl::StatusOr<std::string> ResolveProgram(const std::string& program);
};

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_SANDBOX_SPEC_BUILDER_H_
