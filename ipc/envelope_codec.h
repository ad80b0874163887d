#ifndef CORDON_IPC_ENVELOPE_CODEC_H_
#define CORDON_IPC_ENVELOPE_CODEC_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cordon/v1/envelope.pb.h"

namespace cordon::ipc {

// Caps on fields of decoded envelopes. Everything a plugin sends passes through Decode().
struct EnvelopeLimits {
  size_t max_bytes = 64 * 1024;
  size_t max_name_bytes = 64;
  size_t max_version_bytes = 64;
  size_t max_method_bytes = 128;
  size_t max_methods = 1024;
  size_t max_capabilities = 256;
  size_t max_capability_bytes = 1024;
  size_t max_log_bytes = 8 * 1024;
  size_t max_error_message_bytes = 16 * 1024;
  size_t max_error_details = 64;
};

class EnvelopeCodec {
 public:
  EnvelopeCodec() = default;
  explicit EnvelopeCodec(EnvelopeLimits limits) : limits_(limits) {}

  // Parses and validates. Errors are violation statuses: kOversizedDatagram, kMalformedEnvelope
  // (not a protobuf / field over its cap), kUnknownMessage (no known oneof case set, e.g. a
  // message type added by a newer version).
  absl::StatusOr<cordon::v1::Envelope> Decode(absl::string_view bytes) const;
  absl::Status Validate(const cordon::v1::Envelope& envelope) const;
  // Serializes; fails when the result would exceed max_bytes.
  absl::StatusOr<std::string> Encode(const cordon::v1::Envelope& envelope) const;

  const EnvelopeLimits& limits() const { return limits_; }

  // Name of the envelope's message type ("call_result"), for errors and audit records.
  static absl::string_view MessageName(const cordon::v1::Envelope& envelope);

 private:
  EnvelopeLimits limits_;
};

// Validation helpers shared with the manifest loader.
bool IsValidPluginName(absl::string_view name);
bool IsValidSemver(absl::string_view version);
bool IsValidMethodName(absl::string_view method, size_t max_bytes);

}  // namespace cordon::ipc

#endif  // CORDON_IPC_ENVELOPE_CODEC_H_
