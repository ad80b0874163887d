#ifndef CORDON_IPC_PAYLOAD_H_
#define CORDON_IPC_PAYLOAD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cordon/v1/common.pb.h"
#include "ipc/memfd_payload.h"
#include "ipc/memfd_pool.h"
#include "ipc/memfd_premap_cache.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// Call input or output bytes: owned inline bytes, a sealed, read-only memfd mapping, or a view
// (of a shared input buffer in the plugin SDK; of the host's private copy of a shared result,
// kept alive by the payload). data() is a view of any of them, so a large sealed result is read
// straight from the sender's pages.
class Payload {
 public:
  Payload() = default;
  Payload(std::string bytes) : inline_(std::move(bytes)) {}  // NOLINT: implicit by design
  Payload(absl::string_view bytes) : inline_(bytes) {}       // NOLINT
  Payload(const char* bytes) : inline_(bytes) {}             // NOLINT
  // `memfd` must have been Seal()ed.
  static absl::StatusOr<Payload> FromSealedMemfd(MemfdPayload memfd);
  // A view of bytes owned elsewhere (a shared input buffer mapped by the plugin SDK); they
  // must outlive the payload and every copy of it. Sent on like inline bytes.
  static Payload Borrowed(absl::string_view bytes);
  // A view of bytes that `owner` keeps alive (a block of the host's LandingBufferPool holding
  // its private copy of a shared result); the block is released with the last copy of owner.
  static Payload Owned(absl::string_view bytes, std::shared_ptr<const void> owner);

  absl::string_view data() const;
  size_t size() const { return data().size(); }
  std::string ToString() const { return std::string(data()); }
  bool is_memfd() const { return memfd_.has_value(); }
  bool is_borrowed() const { return borrowed_.has_value() && owner_ == nullptr; }
  // True for Owned(): on the host, a shared result copied out of the plugin's buffer.
  bool is_owned_view() const { return owner_ != nullptr; }

  // Fills `out`: inline when the bytes are inline and at most inline_threshold long, else as a
  // memfd reference whose fd is appended to fds. Inline bytes over the threshold are copied
  // into a sealed memfd: a pre-faulted slot of `pool` when given (the caller refills the pool
  // after sending), else a new memfd.
  absl::Status ToProto(size_t inline_threshold, cordon::v1::Payload* out,
                       std::vector<UniqueFd>* fds, MemfdPool* pool = nullptr) const;
  // Reads a received payload. A memfd reference takes its fd out of `fds` (by index); the fd
  // must be fully sealed, match the declared size and be at most max_bytes (as must inline
  // bytes). With `premapped`, a memfd whose slot was offered to it beforehand is read through
  // the view mapped then (same checks). A shared-buffer reference is refused here (kBadPayload):
  // the plugin SDK resolves host inputs itself, the host session call results in the buffer it
  // lent (SharedResultPool::CopyOut); anywhere else one is a violation. Errors are violation
  // statuses (kBadPayload).
  static absl::StatusOr<Payload> FromProto(const cordon::v1::Payload& proto,
                                           std::vector<UniqueFd>* fds, uint64_t max_bytes,
                                           MemfdPremapCache* premapped = nullptr);

 private:
  std::string inline_;
  std::optional<absl::string_view> borrowed_;
  std::shared_ptr<const void> owner_;  // set by Owned() only
  std::optional<MemfdPayload> memfd_;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_PAYLOAD_H_
