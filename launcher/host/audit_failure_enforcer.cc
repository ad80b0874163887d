#include "launcher/host/audit_failure_enforcer.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "launcher/host/loaded_plugin.h"

namespace cordon::host {

AuditFailureEnforcer::FailureCallback AuditFailureEnforcer::Callback(FailureCallback then) {
  return [this, then = std::move(then)](const absl::Status& failure, audit::OnWriteFailure policy) {
    Enforce(failure, policy);
    if (then) then(failure, policy);
  };
}

void AuditFailureEnforcer::Enforce(const absl::Status& failure, audit::OnWriteFailure policy) {
  if (policy == audit::OnWriteFailure::kDenyRequests) return;
  const std::string reason = absl::StrCat(
      "the audit log failed (", std::string(OnWriteFailureName(policy)), "): ", failure.message());
  // Killed under the lock: a plugin cannot be destroyed meanwhile (Remove waits). Kill only
  // records the failure and signals the sandbox, so this is quick.
  std::lock_guard<std::mutex> lock(mu_);
  if (refusal_.ok())
    refusal_ = absl::FailedPreconditionError(absl::StrCat(reason, "; no plugin may run"));
  for (LoadedPlugin* plugin : plugins_) plugin->Kill(reason);
}

absl::Status AuditFailureEnforcer::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refusal_;
}

absl::Status AuditFailureEnforcer::Add(LoadedPlugin* plugin) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!refusal_.ok()) return refusal_;
  plugins_.insert(plugin);
  return absl::OkStatus();
}

void AuditFailureEnforcer::Remove(LoadedPlugin* plugin) {
  std::lock_guard<std::mutex> lock(mu_);
  plugins_.erase(plugin);
}

}  // namespace cordon::host
