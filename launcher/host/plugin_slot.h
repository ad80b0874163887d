#ifndef CORDON_LAUNCHER_HOST_PLUGIN_SLOT_H_
#define CORDON_LAUNCHER_HOST_PLUGIN_SLOT_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "launcher/host/loaded_plugin.h"

namespace cordon::host {

// Semantic-version precedence (semver.org §11): <0 when a < b, 0 when equal, >0 when a > b.
// Build metadata ("+...") is ignored; a pre-release ("-rc.1") sorts before its release.
// InvalidArgument naming the version when either is not MAJOR.MINOR.PATCH[-PRE][+BUILD].
absl::StatusOr<int> CompareSemanticVersions(absl::string_view a, absl::string_view b);

struct UpgradeOptions {
  // Accept a new version that is not higher than the serving one (same, older, or a rebuild
  // with other build metadata). Off: such an upgrade is refused before anything is spawned.
  bool allow_downgrade = false;
  // A call the new version must answer successfully before it gets any traffic; empty: none.
  std::string health_method;
  std::string health_input;
  absl::Duration health_deadline = absl::Seconds(5);
  // How long the old version gets to finish the calls that already went to it and exit (it is
  // asked to shut down only once they ended); then it is killed. Calls still running on it
  // then fail.
  absl::Duration drain_grace = absl::Seconds(5);
  // After the switch, a failure (crash, kill, violation, quota) of the new version within this
  // window re-loads the previous request and switches back to it. 0: no bake period. The old
  // sandbox is drained at the switch all the same, so calls made between the failure and the
  // re-load fail with the new version's failure reason.
  absl::Duration bake_time = absl::ZeroDuration();
  // Called once new calls go to the new version (before the old one is drained), with both
  // versions. Runs on the upgrading thread; must not call Upgrade() or Shutdown() (they wait
  // for this upgrade to end).
  std::function<void(const std::string& from_version, const std::string& to_version)> on_switch;
};

// The serving instance of one named plugin, replaceable while it serves: Upgrade() loads a new
// version in its own sandbox beside the old one, checks it (name, version order, handshake,
// optional health call), and only then switches new calls to it and drains the old. A failure
// before the switch kills the new sandbox and leaves the old one serving untouched (rollback).
// Every outcome is a `plugin.upgrade` audit record in the request's log (docs/audit.md).
//
// Thread-safe: Call() from any number of threads, also during an upgrade; a call goes to the
// version serving when it starts and finishes on it. Upgrade() and Shutdown() are serialised.
// The destructor kills whatever is still running and reaps it, like ~LoadedPlugin. Direct
// channels and shared inputs are per version and not offered here: use plain Call().
class PluginSlot {
 public:
  // Loads the first version (LoadedPlugin::Load).
  static absl::StatusOr<std::unique_ptr<PluginSlot>> Create(LoadRequest request);
  ~PluginSlot();
  PluginSlot(const PluginSlot&) = delete;
  PluginSlot& operator=(const PluginSlot&) = delete;

  // LoadedPlugin::Call on the version serving now.
  absl::StatusOr<std::string> Call(const std::string& method, const std::string& input,
                                   absl::Duration timeout = absl::ZeroDuration());

  // Replaces the serving version with the plugin `new_request` loads. OK once new calls go to
  // it and the old one was drained (its Shutdown result does not change the outcome: the old
  // is gone either way). On error nothing changed for callers; the status names the plugin,
  // both versions and the reason. With a bake time, the new version is then watched in the
  // background: see WaitForBake().
  absl::Status Upgrade(LoadRequest new_request, const UpgradeOptions& options);

  // Blocks until the bake period of the last upgrade is over. OK: it passed (or there was
  // none); otherwise the new version failed within it and the status says whether the
  // previous version was re-loaded (Aborted) or could not be (Unavailable).
  absl::Status WaitForBake();

  // Shuts the serving version down (LoadedPlugin::Shutdown) after the calls in flight end or
  // grace passes. Later calls and upgrades are refused.
  absl::Status Shutdown(absl::Duration grace = absl::Seconds(5));

  // Of the version serving now.
  std::string name() const;
  std::string version() const;
  PluginState state() const;
  pid_t host_pid() const;

 private:
  // One loaded version and the calls that went to it.
  struct Instance {
    uint64_t generation = 0;
    std::unique_ptr<LoadedPlugin> plugin;
    LoadRequest request;  // as given by the host, to re-load it on a bake rollback
    int in_flight = 0;    // guarded by the slot's mu_
    bool failed = false;  // guarded by mu_: the plugin entered kFailed
    std::string failure_reason;
  };
  struct UpgradeRecord {
    std::string from_version;
    std::string to_version;
    std::string outcome;  // switched, rolled_back, rollback_failed
    std::string stage;
    std::string reason;
    pid_t from_host_pid = -1;
    pid_t to_host_pid = -1;
    std::string health_method;
  };

  PluginSlot() = default;
  // Loads `request` as generation `generation`, watching its state for failures.
  absl::StatusOr<std::shared_ptr<Instance>> LoadInstance(const LoadRequest& request,
                                                         uint64_t generation);
  void OnStateChange(uint64_t generation, PluginState state, const std::string& reason);
  std::shared_ptr<Instance> Current() const;
  // Waits until the calls on `instance` ended or `deadline` passed, then shuts it down.
  void Drain(const std::shared_ptr<Instance>& instance, absl::Time deadline);
  // Ends the bake watcher (the bake is then over) and joins it.
  void StopBake();
  void BakeLoop(std::shared_ptr<Instance> baking, std::shared_ptr<Instance> previous,
                absl::Duration bake_time, absl::Duration drain_grace);
  absl::Status Record(const LoadRequest& request, const UpgradeRecord& upgrade);

  std::string name_;
  std::string slot_id_;

  // Serialises Upgrade(), Shutdown() and the destructor. The bake thread never takes it, so
  // they may join that thread while holding it.
  std::mutex upgrade_mu_;
  std::thread bake_thread_;

  mutable std::mutex mu_;
  // Signalled when a call ends, a plugin fails, or the bake state changes.
  std::condition_variable cv_;
  std::shared_ptr<Instance> current_;
  std::shared_ptr<Instance> baking_;  // the new version while its bake period runs
  uint64_t next_generation_ = 1;
  bool bake_active_ = false;
  bool stop_bake_ = false;
  absl::Status bake_result_;
  bool shut_down_ = false;
  bool closing_ = false;  // the destructor runs: state callbacks do nothing more
};

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_PLUGIN_SLOT_H_
