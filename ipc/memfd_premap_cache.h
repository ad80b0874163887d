#ifndef CORDON_IPC_MEMFD_PREMAP_CACHE_H_
#define CORDON_IPC_MEMFD_PREMAP_CACHE_H_

#include <sys/types.h>

#include <cstdint>
#include <deque>

#include "absl/status/statusor.h"
#include "ipc/memfd_payload.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// Receiver side of the pooled memfd path: maps the sender's pool slots read-only when they are
// offered (before they are filled), so that at hand-off the receiver only checks seals and size
// instead of building a page table for the payload. On this kind of VM a page-table entry
// costs ~0.8 us (12 ms for 64 MiB), which is most of a fresh mapping's cost.
//
// Why it is safe: trust starts only at Open(), which checks the seals (write, grow, shrink,
// seal) and the size on the cache's own fd of the mapped file; once F_SEAL_WRITE is set nothing
// can change the pages under the existing mapping. The cache maps through an O_RDONLY fd, so
// its mapping is not "maywrite" and does not stop the sender from sealing. A slot is opened
// once and then leaves the cache; the sender never reuses a sealed memfd.
//
// Not thread-safe.
class MemfdPremapCache {
 public:
  struct Options {
    // Largest slot that will be mapped ahead (normally the payload cap).
    uint64_t max_slot_bytes = uint64_t{64} << 20;
    // Bounds on what the peer can make this process map; the oldest offer is evicted beyond.
    uint32_t max_slots = 4;
    uint64_t max_total_bytes = uint64_t{256} << 20;
  };

  explicit MemfdPremapCache(Options options) : options_(options) {}
  MemfdPremapCache(const MemfdPremapCache&) = delete;
  MemfdPremapCache& operator=(const MemfdPremapCache&) = delete;
  ~MemfdPremapCache();

  // Maps an offered, not yet sealed slot read-only. Refuses (kBadPayload violation) a fd that
  // is not a sealable memfd, one that can no longer be write-sealed, one larger than
  // max_slot_bytes, and one whose pages are not all allocated (mapping holes would allocate
  // them on this process's memory account).
  absl::Status Offer(UniqueFd fd);

  // Opens a received payload memfd: through the premapped view when its file was offered, else
  // like MemfdPayload::OpenSealed. Same checks and errors as OpenSealed either way.
  absl::StatusOr<MemfdPayload> Open(UniqueFd fd, uint64_t expected_size, uint64_t max_size);

  size_t slots() const { return entries_.size(); }
  uint64_t premapped_opens() const { return premapped_opens_; }
  uint64_t fresh_opens() const { return fresh_opens_; }

 private:
  struct Entry {
    dev_t dev;
    ino_t ino;
    UniqueFd ro_fd;
    void* map;
    uint64_t len;
  };
  void EvictOldest();

  Options options_;
  std::deque<Entry> entries_;
  uint64_t total_bytes_ = 0;
  uint64_t premapped_opens_ = 0;
  uint64_t fresh_opens_ = 0;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_MEMFD_PREMAP_CACHE_H_
