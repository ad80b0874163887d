#ifndef CORDON_IPC_SHARED_PAYLOAD_BUFFER_H_
#define CORDON_IPC_SHARED_PAYLOAD_BUFFER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// A reusable payload buffer for the trusted-sender direction only (host → plugin call inputs):
// the host creates it once, keeps a writable mapping, and seals it with F_SEAL_FUTURE_WRITE
// (plus grow, shrink, seal), which leaves the host's existing mapping writable but lets nobody
// else write it: the plugin gets an O_RDONLY fd and can neither write(), nor map it writable,
// nor punch holes, nor resize it. The plugin maps it once; each payload is then one write by
// the host and a (offset, length) message, with no page allocation and no page-table change.
//
// The content is NOT immutable: the host rewrites it for the next payload, so the plugin may
// only trust it for as long as the host promises not to touch it (the call it belongs to).
// That is why the untrusted direction (plugin → host) never uses this and stays sealed-fresh.
//
// Not thread-safe; lease one buffer per in-flight call.
class SharedPayloadBuffer {
 public:
  static constexpr unsigned kRequiredSeals = 0x1 /*F_SEAL_SEAL*/ | 0x2 /*F_SEAL_SHRINK*/ |
                                             0x4 /*F_SEAL_GROW*/ | 0x10 /*F_SEAL_FUTURE_WRITE*/;

  SharedPayloadBuffer() = default;
  SharedPayloadBuffer(SharedPayloadBuffer&& o) noexcept;
  SharedPayloadBuffer& operator=(SharedPayloadBuffer&& o) noexcept;
  SharedPayloadBuffer(const SharedPayloadBuffer&) = delete;
  SharedPayloadBuffer& operator=(const SharedPayloadBuffer&) = delete;
  ~SharedPayloadBuffer();

  // Owner side: a buffer of `capacity` bytes, allocated and mapped writable now, then sealed.
  static absl::StatusOr<SharedPayloadBuffer> Create(absl::string_view name, uint64_t capacity);
  // Peer side: checks that `fd` is a memfd with the seals above and at most max_capacity bytes,
  // and maps it read-only for the life of this object.
  static absl::StatusOr<SharedPayloadBuffer> OpenReadOnly(UniqueFd fd, uint64_t max_capacity);

  // An O_RDONLY, O_CLOEXEC fd of the buffer to send to the peer (owner side).
  absl::StatusOr<UniqueFd> PeerFd() const;
  // Owner side only (empty on the peer side).
  absl::Span<char> mutable_data();
  // Bytes [offset, offset + length), bounds-checked (the numbers come from the other side).
  absl::StatusOr<absl::string_view> View(uint64_t offset, uint64_t length) const;
  // kBadPayload unless [offset, offset + length) lies within `capacity` bytes, computed without
  // overflow (offset and length come from the other side).
  static absl::Status CheckRange(uint64_t offset, uint64_t length, uint64_t capacity);
  uint64_t capacity() const { return capacity_; }
  bool writable() const { return writable_; }

 private:
  void Unmap();

  UniqueFd fd_;
  void* map_ = nullptr;
  uint64_t capacity_ = 0;
  bool writable_ = false;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_SHARED_PAYLOAD_BUFFER_H_
