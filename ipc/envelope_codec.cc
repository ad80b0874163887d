#include "ipc/envelope_codec.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

using cordon::v1::Envelope;

absl::Status Malformed(absl::string_view what) {
  return ViolationStatus(ViolationKind::kMalformedEnvelope, what);
}

absl::Status CheckLen(absl::string_view field, absl::string_view value, size_t cap) {
  if (value.size() > cap) {
    return Malformed(absl::StrCat(field, " is ", value.size(), " bytes, cap is ", cap));
  }
  return absl::OkStatus();
}

bool IsSemverIdentChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '.'; }

}  // namespace

bool IsValidPluginName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (!(absl::ascii_islower(name[0]) || absl::ascii_isdigit(name[0]))) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

bool IsValidSemver(absl::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    size_t start = i;
    while (i < v.size() && absl::ascii_isdigit(v[i])) ++i;
    if (i == start) return false;
    if (v[start] == '0' && i - start > 1) return false;  // no leading zeros
    if (part < 2) {
      if (i >= v.size() || v[i] != '.') return false;
      ++i;
    }
  }
  if (i == v.size()) return true;
  if (v[i] != '-' && v[i] != '+') return false;
  if (i + 1 == v.size()) return false;
  for (size_t j = i + 1; j < v.size(); ++j) {
    if (!IsSemverIdentChar(v[j]) && v[j] != '+') return false;
  }
  return true;
}

bool IsValidMethodName(absl::string_view m, size_t max_bytes) {
  if (m.empty() || m.size() > max_bytes) return false;
  for (char c : m) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '-')) {
      return false;
    }
  }
  return true;
}

absl::string_view EnvelopeCodec::MessageName(const Envelope& e) {
  switch (e.msg_case()) {
    case Envelope::kHello:
      return "hello";
    case Envelope::kWelcome:
      return "welcome";
    case Envelope::kReject:
      return "reject";
    case Envelope::kReady:
      return "ready";
    case Envelope::kCallRequest:
      return "call_request";
    case Envelope::kCallResult:
      return "call_result";
    case Envelope::kSharedBufferAnnounce:
      return "shared_buffer_announce";
    case Envelope::kResultBufferAnnounce:
      return "result_buffer_announce";
    case Envelope::kDataChannelOpen:
      return "data_channel_open";
    case Envelope::kDataChannelClose:
      return "data_channel_close";
    case Envelope::kHeartbeat:
      return "heartbeat";
    case Envelope::kShutdownRequest:
      return "shutdown_request";
    case Envelope::kShutdownAck:
      return "shutdown_ack";
    case Envelope::kLog:
      return "log";
    case Envelope::kBrokerRequest:
      return "broker_request";
    case Envelope::kBrokerResponse:
      return "broker_response";
    case Envelope::MSG_NOT_SET:
      return "unknown";
  }
  return "unknown";
}

absl::StatusOr<Envelope> EnvelopeCodec::Decode(absl::string_view bytes) const {
  if (bytes.size() > limits_.max_bytes) {
    return ViolationStatus(ViolationKind::kOversizedDatagram,
                           absl::StrCat("envelope of ", bytes.size(), " bytes exceeds the cap of ",
                                        limits_.max_bytes));
  }
  Envelope e;
  if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Malformed(
        absl::StrCat("datagram of ", bytes.size(), " bytes is not a valid cordon.v1.Envelope"));
  }
  if (auto s = Validate(e); !s.ok()) return s;
  return e;
}

absl::Status EnvelopeCodec::Validate(const Envelope& e) const {
  const EnvelopeLimits& L = limits_;
  auto check_error = [&](const cordon::v1::Error& err) -> absl::Status {
    if (auto s = CheckLen("error.message", err.message(), L.max_error_message_bytes); !s.ok()) {
      return s;
    }
    if (static_cast<size_t>(err.details_size()) > L.max_error_details) {
      return Malformed(absl::StrCat("error carries ", err.details_size(), " details, cap is ",
                                    L.max_error_details));
    }
    return absl::OkStatus();
  };
  switch (e.msg_case()) {
    case Envelope::MSG_NOT_SET:
      return ViolationStatus(ViolationKind::kUnknownMessage,
                             "envelope has no known message set (unknown or newer message type)");
    case Envelope::kHello: {
      const auto& h = e.hello();
      if (auto s = CheckLen("hello.name", h.name(), L.max_name_bytes); !s.ok()) return s;
      if (auto s = CheckLen("hello.version", h.version(), L.max_version_bytes); !s.ok()) return s;
      if (auto s = CheckLen("hello.sdk", h.sdk(), L.max_capability_bytes); !s.ok()) return s;
      if (static_cast<size_t>(h.methods_size()) > L.max_methods) {
        return Malformed(
            absl::StrCat("hello lists ", h.methods_size(), " methods, cap is ", L.max_methods));
      }
      for (const auto& m : h.methods()) {
        if (auto s = CheckLen("hello.methods[]", m, L.max_method_bytes); !s.ok()) return s;
      }
      if (static_cast<size_t>(h.requested_capabilities_size()) > L.max_capabilities) {
        return Malformed(absl::StrCat("hello requests ", h.requested_capabilities_size(),
                                      " capabilities, cap is ", L.max_capabilities));
      }
      for (const auto& c : h.requested_capabilities()) {
        if (c.kind().size() + c.target().size() > L.max_capability_bytes) {
          return Malformed("hello.requested_capabilities[] entry over its size cap");
        }
      }
      return absl::OkStatus();
    }
    case Envelope::kCallRequest:
      return CheckLen("call_request.method", e.call_request().method(), L.max_method_bytes);
    case Envelope::kCallResult:
      if (e.call_result().has_error()) return check_error(e.call_result().error());
      return absl::OkStatus();
    case Envelope::kReady:
      if (e.ready().has_error()) return check_error(e.ready().error());
      return absl::OkStatus();
    case Envelope::kReject:
      return CheckLen("reject.reason", e.reject().reason(), L.max_error_message_bytes);
    case Envelope::kLog:
      return CheckLen("log.message", e.log().message(), L.max_log_bytes);
    case Envelope::kBrokerResponse:
      if (e.broker_response().has_error()) return check_error(e.broker_response().error());
      return absl::OkStatus();
    case Envelope::kBrokerRequest:
      if (e.broker_request().request_case() == cordon::v1::BrokerRequest::REQUEST_NOT_SET) {
        return ViolationStatus(ViolationKind::kUnknownMessage,
                               "broker_request has no known request set");
      }
      return absl::OkStatus();
    case Envelope::kWelcome:
    case Envelope::kSharedBufferAnnounce:
    case Envelope::kResultBufferAnnounce:
    case Envelope::kDataChannelOpen:
    case Envelope::kDataChannelClose:
    case Envelope::kHeartbeat:
    case Envelope::kShutdownRequest:
    case Envelope::kShutdownAck:
      return absl::OkStatus();
  }
  return ViolationStatus(ViolationKind::kUnknownMessage, "unknown message type");
}

absl::StatusOr<std::string> EnvelopeCodec::Encode(const Envelope& e) const {
  size_t size = e.ByteSizeLong();
  if (size > limits_.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(MessageName(e), " message of ", size, " bytes exceeds the datagram cap of ",
                     limits_.max_bytes, "; send large payloads as memfds"));
  }
  std::string out;
  if (!e.SerializeToString(&out)) return absl::InternalError("serializing envelope failed");
  return out;
}

}  // namespace cordon::ipc
