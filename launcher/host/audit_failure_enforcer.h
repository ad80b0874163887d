#ifndef CORDON_LAUNCHER_HOST_AUDIT_FAILURE_ENFORCER_H_
#define CORDON_LAUNCHER_HOST_AUDIT_FAILURE_ENFORCER_H_

#include <functional>
#include <mutex>
#include <set>

#include "absl/status/status.h"
#include "audit/audit_log.h"

namespace cordon::host {

class LoadedPlugin;

// Carries out an audit log's failure policy over every LoadedPlugin that writes to it
// (docs/audit.md, "Write failures"). The log only reports its failure; this kills every plugin
// registered here under kKillPlugins and kStopLauncher, and refuses plugins loaded afterwards.
// Under kDenyRequests it does nothing: each action that needs a record is then refused on its
// own (broker requests, loads, lifecycle steps). A plugin's own failed record kills that
// plugin whatever is wired here; this is what reaches the plugins whose records did not fail.
//
//   AuditFailureEnforcer enforcer;             // outlives the log and the plugins
//   options.on_failure_callback = enforcer.Callback();
//   request.audit_failure_enforcer = &enforcer;  // every LoadRequest writing to that log
//
// One enforcer per audit log. Thread-safe; the callback may run on any thread, including a
// plugin's own while it writes a record.
class AuditFailureEnforcer {
 public:
  using FailureCallback = std::function<void(const absl::Status&, audit::OnWriteFailure)>;

  AuditFailureEnforcer() = default;
  AuditFailureEnforcer(const AuditFailureEnforcer&) = delete;
  AuditFailureEnforcer& operator=(const AuditFailureEnforcer&) = delete;

  // For AuditLogOptions.on_failure_callback: Enforce, then `then` (e.g. to stop the launcher
  // under kStopLauncher, or to report the failure), if set.
  FailureCallback Callback(FailureCallback then = nullptr);
  void Enforce(const absl::Status& failure, audit::OnWriteFailure policy);
  // OK until a failure made plugins unwelcome; then an error naming it.
  absl::Status status() const;

 private:
  friend class LoadedPlugin;
  // A plugin starting to load: refused (the error) when the policy already killed the others.
  absl::Status Add(LoadedPlugin* plugin);
  // Before the plugin goes away; waits for a kill in progress.
  void Remove(LoadedPlugin* plugin);

  mutable std::mutex mu_;
  std::set<LoadedPlugin*> plugins_;
  absl::Status refusal_;
};

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_AUDIT_FAILURE_ENFORCER_H_
