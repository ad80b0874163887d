#include "ipc/protocol_violation.h"

#include "absl/strings/cord.h"

namespace cordon::ipc {
namespace {

constexpr absl::string_view kPayloadUrl = "cordon.dev/ipc.violation";

struct KindEntry {
  ViolationKind kind;
  absl::string_view name;
  bool quota;
};

constexpr KindEntry kKinds[] = {
    {ViolationKind::kOversizedDatagram, "oversized_datagram", false},
    {ViolationKind::kMalformedEnvelope, "malformed_envelope", false},
    {ViolationKind::kUnknownMessage, "unknown_message", false},
    {ViolationKind::kUnexpectedMessage, "unexpected_message", false},
    {ViolationKind::kUnknownCallId, "unknown_call_id", false},
    {ViolationKind::kTooManyFds, "too_many_fds", false},
    {ViolationKind::kTruncatedControlData, "truncated_control_data", false},
    {ViolationKind::kBadPayload, "bad_payload", false},
    {ViolationKind::kMessageFlood, "message_flood", true},
    {ViolationKind::kHandshakeTimeout, "handshake_timeout", true},
    {ViolationKind::kCallDeadlineExceeded, "call_deadline_exceeded", true},
    {ViolationKind::kHeartbeatTimeout, "heartbeat_timeout", true},
};

}  // namespace

absl::string_view ViolationKindName(ViolationKind kind) {
  for (const auto& e : kKinds) {
    if (e.kind == kind) return e.name;
  }
  return "unknown";
}

bool IsQuotaViolation(ViolationKind kind) {
  for (const auto& e : kKinds) {
    if (e.kind == kind) return e.quota;
  }
  return false;
}

absl::string_view ProtocolViolation::AuditType() const {
  return IsQuotaViolation(kind) ? "quota.violation" : "protocol.violation";
}

absl::string_view ProtocolViolation::KindName() const { return ViolationKindName(kind); }

absl::Status ViolationStatus(ViolationKind kind, absl::string_view message) {
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  if (kind == ViolationKind::kOversizedDatagram || kind == ViolationKind::kTooManyFds ||
      kind == ViolationKind::kMessageFlood) {
    code = absl::StatusCode::kResourceExhausted;
  } else if (kind == ViolationKind::kHandshakeTimeout ||
             kind == ViolationKind::kCallDeadlineExceeded ||
             kind == ViolationKind::kHeartbeatTimeout) {
    code = absl::StatusCode::kDeadlineExceeded;
  }
  absl::Status status(code, message);
  status.SetPayload(kPayloadUrl, absl::Cord(ViolationKindName(kind)));
  return status;
}

std::optional<ViolationKind> ViolationKindOf(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  std::string name(*payload);
  for (const auto& e : kKinds) {
    if (e.name == name) return e.kind;
  }
  return std::nullopt;
}

}  // namespace cordon::ipc
