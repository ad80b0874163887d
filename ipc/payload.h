#ifndef CORDON_IPC_PAYLOAD_H_
#define CORDON_IPC_PAYLOAD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cordon/v1/common.pb.h"
#include "ipc/memfd_payload.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// Call input or output bytes: either owned inline bytes or a sealed, read-only memfd mapping.
// data() is a view of either, so a large result is read straight from the sender's pages.
class Payload {
 public:
  Payload() = default;
  Payload(std::string bytes) : inline_(std::move(bytes)) {}  // NOLINT: implicit by design
  Payload(absl::string_view bytes) : inline_(bytes) {}       // NOLINT
  Payload(const char* bytes) : inline_(bytes) {}             // NOLINT
  // `memfd` must have been Seal()ed.
  static absl::StatusOr<Payload> FromSealedMemfd(MemfdPayload memfd);

  absl::string_view data() const;
  size_t size() const { return data().size(); }
  std::string ToString() const { return std::string(data()); }
  bool is_memfd() const { return memfd_.has_value(); }

  // Fills `out`: inline when the bytes are inline and at most inline_threshold long, else as a
  // memfd reference (copying inline bytes into a new sealed memfd) whose fd is appended to fds.
  absl::Status ToProto(size_t inline_threshold, cordon::v1::Payload* out,
                       std::vector<UniqueFd>* fds) const;
  // Reads a received payload. A memfd reference takes its fd out of `fds` (by index); the fd
  // must be fully sealed, match the declared size and be at most max_bytes (as must inline
  // bytes). Errors are violation statuses (kBadPayload).
  static absl::StatusOr<Payload> FromProto(const cordon::v1::Payload& proto,
                                           std::vector<UniqueFd>* fds, uint64_t max_bytes);

 private:
  std::string inline_;
  std::optional<MemfdPayload> memfd_;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_PAYLOAD_H_
