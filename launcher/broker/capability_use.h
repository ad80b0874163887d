#ifndef CORDON_LAUNCHER_BROKER_CAPABILITY_USE_H_
#define CORDON_LAUNCHER_BROKER_CAPABILITY_USE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "audit/audit_record.h"

namespace cordon::broker {

enum class Decision { kAllow, kDeny };

// One broker request as the audit log records it (type "capability.use"). The broker builds it
// once the request is decided, and hands it to the audit hook before anything the request
// changes (a created or truncated file, a connection, a host function's run) and before the
// plugin sees the answer. When that effect then fails, a second record of type
// "capability.result" (phase kResult) carries the failure; one also follows every successful
// connect (naming the address reached) and a create whose directory was replaced between the
// check and the create (docs/audit.md).
struct CapabilityUse {
  enum class Phase { kDecision, kResult };
  Phase phase = Phase::kDecision;
  uint64_t request_id = 0;
  // "fs.read", "fs.write", "fs.create", "net.connect", "host.call", "log", or "unknown".
  std::string capability;
  // Exactly what the plugin asked for (path, endpoint, function name); untrusted bytes.
  std::string target;
  // What it resolved to: host path, the addresses a connect may dial (in a kResult after a
  // successful connect: the one it reached), function name. Empty when denied before
  // resolution.
  std::string resolved;
  Decision decision = Decision::kDeny;
  // Why it was denied, or, when allowed by policy but failed (file missing, connection
  // refused, host function error), that failure. Empty for a plain success.
  std::string reason;
  // What the plugin is told: OK or the error code of its answer. For a decision with an
  // `effect` still to come, OK means "allowed"; a capability.result follows if it fails (and
  // after every connect).
  absl::StatusCode code = absl::StatusCode::kOk;
  // The effect performed after this record: "create", "truncate", "connect", "call", or ""
  // when the request changes nothing (a plain open, a denial, a log line).
  std::string effect;
  // From receipt to the decision (kDecision) or to the end of the effect (kResult),
  // excluding the audit write itself.
  absl::Duration latency;

  static const char* DecisionName(Decision d) { return d == Decision::kAllow ? "allow" : "deny"; }
  // The record's own fields: decision (kDecision only), capability, target, resolved, reason,
  // code, effect, latency_us, request_id. The caller adds the plugin identity (PluginAuditor).
  audit::AuditRecord ToAuditRecord() const;
};

// A broker quota hit, recorded as "quota.violation". Refusals of one quota are folded: at most
// one record per quota per second, whose `count` says how many refusals it stands for.
struct QuotaHit {
  // "broker_request_rate", "broker_held_fds", "broker_concurrent_requests", "broker_log_rate",
  // or "broker_refusal_flood" (action "killed").
  std::string quota;
  uint64_t limit = 0;
  uint64_t observed = 0;
  std::string detail;
  // "denied": the request was refused. "killed": the plugin kept sending past its refusals and
  // the host must kill it (the broker refuses everything after this, unrecorded).
  std::string action = "denied";
  // Refusals this record stands for: this one and those folded into it since the quota's
  // previous record. For broker_refusal_flood, every quota refusal of the plugin's life.
  uint64_t count = 1;
  // When the first refusal it counts happened; InfinitePast when it counts only itself.
  absl::Time window_start = absl::InfinitePast();

  // Fields: quota, limit, action, observed, detail, count, window_start* (decision deny).
  // The caller adds the plugin identity.
  audit::AuditRecord ToAuditRecord() const;
};

// A structured plugin log line on its way to the host's log sink.
struct LogEntry {
  // DEBUG, INFO, WARNING, ERROR (cordon.v1.LogMessage.Level names).
  std::string level;
  std::string message;
  std::map<std::string, std::string> fields;
  // Lines dropped by the log rate limit just before this one.
  uint64_t dropped_before = 0;

  // The entry as one line of text for a terminal or the journal (no newline):
  //   WARNING disk almost full path="/data/x" (3 lines dropped before)
  // The plugin's bytes are escaped so that they can neither break the line nor drive the
  // terminal: C0 controls and DEL as \n, \r, \t, \\ or \xNN, C1 controls, line separators and
  // bidirectional overrides as \u{XXXX}, bytes outside valid UTF-8 as \xNN.
  std::string ToLine() const;
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_CAPABILITY_USE_H_
