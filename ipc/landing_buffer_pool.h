#ifndef CORDON_IPC_LANDING_BUFFER_POOL_H_
#define CORDON_IPC_LANDING_BUFFER_POOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"

namespace cordon::ipc {

// Reusable blocks of private host memory that shared call results are copied into
// (SharedResultPool::CopyOut). Copying into a block whose pages are already allocated and
// mapped costs one memcpy; a fresh block costs a page fault per 4 KiB page first (~2.6 us each
// on the development VM, more than copying the page). A block goes back to the pool when the
// last reference to it (the Payload handed to the caller) goes away, and is reused for a later
// result of at most its size. Blocks are charged to the host's memory cgroup: they are the
// host's private snapshot of results. Thread-safe; a block may outlive its pool (it is then
// unmapped when released).
class LandingBufferPool : public std::enable_shared_from_this<LandingBufferPool> {
 public:
  struct Options {
    // Free blocks kept for reuse; a released block beyond either cap is unmapped.
    size_t max_free_blocks = 2;
    uint64_t max_free_bytes = uint64_t{512} << 20;
  };

  // One private anonymous mapping of `capacity` bytes.
  class Block {
   public:
    Block(char* data, uint64_t capacity) : data_(data), capacity_(capacity) {}
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;
    ~Block();
    char* data() const { return data_; }
    uint64_t capacity() const { return capacity_; }

   private:
    char* data_;
    uint64_t capacity_;
  };

  static std::shared_ptr<LandingBufferPool> Create(Options options);
  LandingBufferPool(const LandingBufferPool&) = delete;
  LandingBufferPool& operator=(const LandingBufferPool&) = delete;

  // A block of at least `size` (> 0) bytes: the smallest free one that fits, else a new one
  // (rounded up to 64 KiB).
  absl::StatusOr<std::shared_ptr<Block>> Acquire(uint64_t size);

  size_t free_blocks() const;
  // Blocks mapped over the pool's life (a reused block counts once).
  size_t blocks_created() const;

 private:
  explicit LandingBufferPool(Options options) : options_(options) {}
  void Return(std::unique_ptr<Block> block);

  const Options options_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Block>> free_;
  uint64_t free_bytes_ = 0;
  size_t created_ = 0;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_LANDING_BUFFER_POOL_H_
