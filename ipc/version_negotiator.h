#ifndef CORDON_IPC_VERSION_NEGOTIATOR_H_
#define CORDON_IPC_VERSION_NEGOTIATOR_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace cordon::ipc {

// Protocol versions within package cordon.v1. A version adds messages or fields; see
// docs/protocol.md for what may change.
inline constexpr uint32_t kProtocolVersionMin = 1;
inline constexpr uint32_t kProtocolVersionMax = 1;

struct VersionSpan {
  uint32_t min = kProtocolVersionMin;
  uint32_t max = kProtocolVersionMax;
  std::string ToString() const;
};

// Pure function of the two ranges: picks the highest version both sides speak.
class VersionNegotiator {
 public:
  // Errors: InvalidArgument for an empty/inverted plugin range (min 0 or min > max);
  // FailedPrecondition when the ranges are disjoint. Both name both ranges.
  static absl::StatusOr<uint32_t> Negotiate(const VersionSpan& host, const VersionSpan& plugin);
  // The highest version in host ∩ manifest (when given) ∩ plugin (the Hello's range); a
  // mismatch names every range, so a plugin never runs a version its manifest does not claim.
  static absl::StatusOr<uint32_t> NegotiateWithManifest(const VersionSpan& host,
                                                        const std::optional<VersionSpan>& manifest,
                                                        const VersionSpan& plugin);
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_VERSION_NEGOTIATOR_H_
