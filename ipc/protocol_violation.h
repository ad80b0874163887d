#ifndef CORDON_IPC_PROTOCOL_VIOLATION_H_
#define CORDON_IPC_PROTOCOL_VIOLATION_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cordon::ipc {

// What a plugin did wrong on its channel. Every kind means "kill the plugin"; AuditType() says
// which audit record type the launcher writes for it.
enum class ViolationKind {
  kOversizedDatagram,
  kMalformedEnvelope,
  kUnknownMessage,
  kUnexpectedMessage,
  kUnknownCallId,
  kTooManyFds,
  kTruncatedControlData,
  kBadPayload,
  kMessageFlood,
  kHandshakeTimeout,
  kCallDeadlineExceeded,
  kHeartbeatTimeout,
};

struct ProtocolViolation {
  ViolationKind kind;
  // Human-readable, names the plugin and what was observed.
  std::string detail;

  // "protocol.violation" or "quota.violation".
  absl::string_view AuditType() const;
  // Stable snake_case name of the kind ("oversized_datagram"), for audit records.
  absl::string_view KindName() const;
};

absl::string_view ViolationKindName(ViolationKind kind);
bool IsQuotaViolation(ViolationKind kind);

// A status carrying the violation kind as a payload, so it survives being passed up through
// layers that only see absl::Status.
absl::Status ViolationStatus(ViolationKind kind, absl::string_view message);
std::optional<ViolationKind> ViolationKindOf(const absl::Status& status);

}  // namespace cordon::ipc

#endif  // CORDON_IPC_PROTOCOL_VIOLATION_H_
