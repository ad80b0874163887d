#include "launcher/broker/capability_use.h"

#include "absl/status/status.h"
#include "audit/record_line.h"

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

audit::AuditRecord QuotaHit::ToAuditRecord() const {
  // Same fields, in the same order, as PluginAuditor::RecordQuota, plus the fold's count.
  audit::AuditRecord record("quota.violation");
  record.SetDecision("deny");
  record.Set("quota", quota).Set("limit", limit).Set("action", action).Set("observed", observed);
  if (!detail.empty()) record.Set("detail", detail);
  record.Set("count", count);
  if (window_start != absl::InfinitePast()) {
    // Same fixed-width UTC form as the record's own `ts`.
    std::string text;
    audit::RecordLine::AppendTimestamp(&text, window_start);
    record.Set("window_start", text);
  }
  return record;
}

}  // namespace cordon::broker
