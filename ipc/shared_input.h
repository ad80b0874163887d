#ifndef CORDON_IPC_SHARED_INPUT_H_
#define CORDON_IPC_SHARED_INPUT_H_

#include <cstddef>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "ipc/memfd_payload.h"
#include "ipc/shared_input_pool.h"

namespace cordon::ipc {

// A call input the host writes in place (PluginSession::AcquireInput), then hands to
// PluginSession::Call. Backed by a leased SharedPayloadBuffer when the plugin opted in and one
// is free (the plugin reads the host's pages: no copy, no page allocation per call), otherwise
// by a writable memfd that is sealed at Call (the ordinary memfd path). Move-only; dropping it
// unused returns the buffer to the pool.
class SharedInput {
 public:
  SharedInput() = default;
  SharedInput(SharedInput&& o) noexcept;
  SharedInput& operator=(SharedInput&& o) noexcept;
  SharedInput(const SharedInput&) = delete;
  SharedInput& operator=(const SharedInput&) = delete;
  ~SharedInput();

  // Exactly size() writable bytes.
  absl::Span<char> data();
  size_t size() const { return size_; }
  // Sends only the first `size` bytes (<= size()).
  absl::Status Truncate(size_t size);
  // True: a shared buffer; false: the memfd fallback.
  bool is_shared() const { return pool_ != nullptr; }
  uint64_t buffer_id() const { return lease_.buffer_id; }

 private:
  friend class PluginSession;
  friend class SessionBuffers;
  static SharedInput FromLease(std::shared_ptr<SharedInputPool> pool, SharedInputPool::Lease lease,
                               size_t size);
  static SharedInput FromMemfd(MemfdPayload memfd);
  // Ends the lease (see SharedInputPool::Release); no-op for the fallback.
  void Release(bool reusable);

  std::shared_ptr<SharedInputPool> pool_;
  SharedInputPool::Lease lease_;
  std::optional<MemfdPayload> memfd_;
  size_t size_ = 0;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_SHARED_INPUT_H_
