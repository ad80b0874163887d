#ifndef CORDON_TESTS_INTEGRATION_OUTER_CGROUP_H_
#define CORDON_TESTS_INTEGRATION_OUTER_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launcher/quota/plugin_cgroup.h"

namespace cordon::integration {

// Limits of the harness's own safety net around one cordon run. They sit above the quota under
// test (which cordon enforces in a cgroup below this one), so they never decide a test; they
// only stop a quota bug from taking the machine down.
struct OuterLimits {
  uint64_t memory_bytes = 1ull << 30;  // the default profile allows 512 MiB
  uint64_t pids = 256;                 // the default profile allows 64
  uint32_t cpu_rate_percent = 150;     // of the machine's cores, at most one and a half
};

// The test harness's own cgroup around one `cordon run` (cordon, its sandbox and everything
// they start): created below the test's own cgroup with the same code cordon uses for plugins
// (PluginCgroup: cgroup v2 where a delegated hierarchy offers the controllers, else the v1
// memory, pids and cpu hierarchies), so cordon's plugin cgroup nests inside it and a quota
// that fails still hits the outer limit. After the run, whatever cordon left inside is
// reported (a leak is a test failure, not something the net hides), then killed and removed.
class OuterCgroup {
 public:
  static absl::StatusOr<std::unique_ptr<OuterCgroup>> Create(const OuterLimits& limits);

  // v1: fds of the `tasks` files the forked child writes "0" into before exec
  // (async-signal-safe). Empty for v2, where the parent calls Place while the child waits.
  const std::vector<int>& join_fds() const { return join_fds_; }
  absl::Status Place(pid_t pid) { return cgroup_->AddProcess(pid); }

  // The cgroup's directory in every hierarchy it was created in.
  const std::vector<std::string>& dirs() const { return dirs_; }

  // After cordon has exited: plugin cgroups it left below <outer>/cordon, and processes still
  // inside once the exiting ones had up to five seconds to go. Empty when all is clean.
  std::vector<std::string> Leftovers() const;

  // Kills anything still inside and removes the tree. Idempotent; the destructor runs it.
  absl::Status Remove() { return cgroup_->Remove(); }

 private:
  OuterCgroup() = default;

  std::unique_ptr<quota::PluginCgroup> cgroup_;
  std::vector<int> join_fds_;
  std::vector<std::string> dirs_;
};

// The rlimits the runner sets in the forked child before exec, as a second net and as the
// fallback where no cgroup can be had: RLIMIT_FSIZE (1 GiB: cordon's audit log and anything
// it writes) and RLIMIT_CPU (600 s per process). Both are far above what any test asks of
// cordon, which may only lower them for the sandbox. Async-signal-safe.
void SetOuterRlimits();

}  // namespace cordon::integration

#endif  // CORDON_TESTS_INTEGRATION_OUTER_CGROUP_H_
