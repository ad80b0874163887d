#ifndef CORDON_IPC_SHARED_INPUT_POOL_H_
#define CORDON_IPC_SHARED_INPUT_POOL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "ipc/leased_buffers.h"
#include "ipc/shared_payload_buffer.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// The host's set of SharedPayloadBuffers for one plugin session (host → plugin call inputs).
// A buffer is leased to one call at a time; it goes back to the pool only when the plugin has
// answered that call (it no longer reads it), otherwise it is retired for good: the host never
// writes it again while the plugin might still be reading. Retired buffers keep counting
// against the caps, because the plugin keeps its mapping of every buffer it was announced.
// Thread-safe.
class SharedInputPool {
 public:
  struct Options {
    // Buffers announced to one plugin over the session's life (the plugin's cap applies too).
    size_t max_buffers = 4;
    uint64_t max_buffer_bytes = uint64_t{256} << 20;
    uint64_t max_total_bytes = uint64_t{512} << 20;
  };

  struct Lease {
    uint64_t buffer_id = 0;
    // The whole buffer, writable by the host.
    absl::Span<char> data;
    // First use of the buffer: it must be announced (fd sent) before a call names it.
    bool needs_announce = false;
  };

  explicit SharedInputPool(Options options);
  SharedInputPool(const SharedInputPool&) = delete;
  SharedInputPool& operator=(const SharedInputPool&) = delete;

  // The smallest free buffer of at least `size` bytes, or a new one (capacity rounded up to
  // 64 KiB) within the caps. ResourceExhausted when neither: the caller falls back to memfds.
  absl::StatusOr<Lease> Acquire(uint64_t size);
  // An O_RDONLY fd of a leased buffer, for its announcement.
  absl::StatusOr<UniqueFd> PeerFd(uint64_t buffer_id) const;
  void MarkAnnounced(uint64_t buffer_id);
  // Ends a lease. reusable: the plugin answered the call (or never received it) and the buffer
  // may be leased again; otherwise it is retired (unmapped by the host, never reused).
  void Release(uint64_t buffer_id, bool reusable);

  const Options& options() const { return options_; }
  size_t free_buffers() const;
  // Live plus retired.
  size_t buffers_created() const;

 private:
  const Options options_;
  mutable std::mutex mu_;
  LeasedBuffers<SharedPayloadBuffer> buffers_{"shared input buffer"};
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_SHARED_INPUT_POOL_H_
