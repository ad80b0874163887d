#include "launcher/broker/capability_use.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "audit/record_line.h"
#include "ipc/utf8_text.h"

namespace cordon::broker {
namespace {

// Code points that change how a terminal shows the text around them: C1 controls (U+0080 to
// U+009F, e.g. the single-byte CSI), line and paragraph separators, bidirectional embeddings,
// overrides and isolates.
bool IsFormatControl(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
         cp == 0x200f || cp == 0x061c;
}

void AppendEscaped(absl::string_view s, std::string* out) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = ipc::Utf8SequenceLength(s, i);
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (len == 0) {
      absl::StrAppendFormat(out, "\\x%02x", b0);
      ++i;
      continue;
    }
    if (len == 1) {
      switch (b0) {
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '"':
          out->append("\\\"");
          break;
        default:
          if (b0 < 0x20 || b0 == 0x7f) {
            absl::StrAppendFormat(out, "\\x%02x", b0);
          } else {
            out->push_back(static_cast<char>(b0));
          }
      }
      ++i;
      continue;
    }
    uint32_t cp = b0 & (0xff >> (len + 1));
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    if (IsFormatControl(cp)) {
      absl::StrAppendFormat(out, "\\u{%04x}", cp);
    } else {
      out->append(s.data() + i, len);
    }
    i += len;
  }
}

}  // namespace

audit::AuditRecord CapabilityUse::ToAuditRecord() const {
  audit::AuditRecord record(phase == Phase::kResult ? "capability.result" : "capability.use");
  // A result reports how the effect of a decision already recorded ended; it decides nothing.
  if (phase == Phase::kDecision) record.SetDecision(DecisionName(decision));
  record.Set("capability", capability);
  // The audit writer escapes these: they may hold any bytes the plugin sent.
  record.Set("target", target);
  if (!resolved.empty()) record.Set("resolved", resolved);
  if (!reason.empty()) record.Set("reason", reason);
  record.Set("code", absl::StatusCodeToString(code));
  if (!effect.empty()) record.Set("effect", effect);
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

std::string LogEntry::ToLine() const {
  std::string out = level.empty() ? "INFO" : level;
  out.push_back(' ');
  AppendEscaped(message, &out);
  for (const auto& [key, value] : fields) {
    out.push_back(' ');
    AppendEscaped(key, &out);
    out.append("=\"");
    AppendEscaped(value, &out);
    out.push_back('"');
  }
  if (dropped_before > 0) {
    absl::StrAppend(&out, " (", dropped_before, " line", dropped_before == 1 ? "" : "s",
                    " dropped before)");
  }
  return out;
}

}  // namespace cordon::broker
