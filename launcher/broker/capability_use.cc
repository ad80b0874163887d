#include "launcher/broker/capability_use.h"

#include "absl/status/status.h"

namespace cordon::broker {

audit::AuditRecord CapabilityUse::ToAuditRecord() const {
  audit::AuditRecord record("capability.use");
  record.SetDecision(DecisionName(decision));
  record.Set("capability", capability);
  // The audit writer escapes these: they may hold any bytes the plugin sent.
  record.Set("target", target);
  if (!resolved.empty()) record.Set("resolved", resolved);
  if (!reason.empty()) record.Set("reason", reason);
  record.Set("code", absl::StatusCodeToString(code));
  record.Set("latency_us", static_cast<int64_t>(absl::ToInt64Microseconds(latency)));
  record.Set("request_id", request_id);
  return record;
}

}  // namespace cordon::broker
