#ifndef CORDON_LAUNCHER_SANDBOX_SANDBOX_SPAWNER_H_
#define CORDON_LAUNCHER_SANDBOX_SANDBOX_SPAWNER_H_

#include <sys/types.h>

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launcher/sandbox/sandbox_process.h"
#include "launcher/sandbox/sandbox_spec.h"

namespace cordon::sandbox {

struct SpawnHooks {
  // Runs with the child's host pid after the uid/gid maps are written and before the child
  // continues (e.g. cgroup v1 placement). An error aborts the spawn.
  std::function<absl::Status(pid_t)> before_start;
};

// Starts a program in a fresh sandbox (user, pid, mount, net, ipc, uts and cgroup
// namespaces; the mount tree, credentials, limits and seccomp filter of the spec).
//
// The spec is turned into a ChildPlan first (all allocation happens there), the child is
// created with clone3(CLONE_PIDFD), and every failure in the child arrives as (step, errno)
// and becomes a FailedPrecondition status naming the step, the errno and what to do. On any
// error nothing is left behind: the child is killed and reaped and every fd is closed.
class SandboxSpawner {
 public:
  static absl::StatusOr<std::unique_ptr<SandboxProcess>> Spawn(const SandboxSpec& spec,
                                                               const SpawnHooks& hooks = {});
};

}  // namespace cordon::sandbox

#endif  // CORDON_LAUNCHER_SANDBOX_SANDBOX_SPAWNER_H_
