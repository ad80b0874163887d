#ifndef CORDON_IPC_MEMFD_POOL_H_
#define CORDON_IPC_MEMFD_POOL_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ipc/memfd_payload.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// Sender side of the pooled memfd path: memfds created ahead of need, their pages allocated
// and mapped writable, so that producing a large payload writes into already-faulted pages and
// hand-off is only Shrink() + Seal(). A slot is handed out once and sealed once; it is never
// reused (a sealed memfd can never be written again, which is the receiver's guarantee), so
// the pool only moves page allocation off the critical path: Refill() pays it, and sustained
// throughput is still bounded by it.
//
// Not thread-safe; one pool per channel, refilled by its owner after a hand-off or from an idle
// loop.
class MemfdPool {
 public:
  struct Options {
    std::string name = "cordon-payload";
    // Size of every slot; payloads up to this size come from the pool.
    uint64_t slot_bytes = uint64_t{64} << 20;
    // Payloads smaller than this get a fresh memfd instead of a slot (counted as neither hit
    // nor miss): cutting a large pre-faulted slot down to a small payload throws away most of
    // the pages Refill() paid for.
    uint64_t min_bytes = 0;
    // Slots Refill() keeps ready.
    uint32_t depth = 2;
    // When no slot is ready (or the payload is larger than a slot): create a fresh memfd on
    // the spot (slow, but the call still goes through) instead of failing with
    // ResourceExhausted.
    bool fresh_when_empty = true;
  };

  explicit MemfdPool(Options options) : options_(std::move(options)) {}

  // A writable, pre-faulted memfd of exactly `size` bytes (a slot cut down to it). Fill
  // mutable_data(), then Seal() and send the fd.
  absl::StatusOr<MemfdPayload> Acquire(uint64_t size);

  // Creates slots until `depth` are ready. Returns a dup (O_CLOEXEC) of each new slot's fd, for
  // a receiver that maps slots ahead of hand-off (MemfdPremapCache::Offer); callers that do not
  // offer slots just drop them.
  absl::StatusOr<std::vector<UniqueFd>> Refill();

  size_t ready() const { return ready_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  Options options_;
  std::deque<MemfdPayload> ready_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_MEMFD_POOL_H_
