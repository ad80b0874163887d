#include "ipc/landing_buffer_pool.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cordon::ipc {
namespace {
// Rounding up lets results of slightly different sizes share a block.
constexpr uint64_t kGranule = 64 * 1024;
}  // namespace

LandingBufferPool::Block::~Block() { ::munmap(data_, capacity_); }

std::shared_ptr<LandingBufferPool> LandingBufferPool::Create(Options options) {
  return std::shared_ptr<LandingBufferPool>(new LandingBufferPool(options));
}

absl::StatusOr<std::shared_ptr<LandingBufferPool::Block>> LandingBufferPool::Acquire(
    uint64_t size) {
  if (size == 0) return absl::InvalidArgumentError("landing buffer of 0 bytes");
  std::unique_ptr<Block> block;
  {
    std::lock_guard<std::mutex> lock(mu_);
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i) {
      if (free_[i]->capacity() < size) continue;
      if (best == free_.size() || free_[i]->capacity() < free_[best]->capacity()) best = i;
    }
    if (best != free_.size()) {
      block = std::move(free_[best]);
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
      free_bytes_ -= block->capacity();
    }
  }
  if (block == nullptr) {
    if (size > UINT64_MAX - kGranule) return absl::InvalidArgumentError("landing buffer too large");
    const uint64_t capacity = (size + kGranule - 1) / kGranule * kGranule;
    void* m = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      return absl::ErrnoToStatus(errno,
                                 absl::StrCat("mmap landing buffer of ", capacity, " bytes"));
    }
    // Fewer, cheaper faults the first time where the host allows anonymous huge pages.
    (void)::madvise(m, capacity, MADV_HUGEPAGE);
    block = std::make_unique<Block>(static_cast<char*>(m), capacity);
    std::lock_guard<std::mutex> lock(mu_);
    ++created_;
  }
  std::weak_ptr<LandingBufferPool> pool = weak_from_this();
  Block* raw = block.release();
  return std::shared_ptr<Block>(raw, [pool](Block* b) {
    std::unique_ptr<Block> owned(b);
    if (auto p = pool.lock()) p->Return(std::move(owned));
  });
}

void LandingBufferPool::Return(std::unique_ptr<Block> block) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < options_.max_free_blocks && free_bytes_ <= options_.max_free_bytes &&
        block->capacity() <= options_.max_free_bytes - free_bytes_) {
      free_bytes_ += block->capacity();
      free_.push_back(std::move(block));
      return;
    }
  }
  // Over the caps: unmapped here, outside the lock, as `block` goes.
}

size_t LandingBufferPool::free_blocks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return free_.size();
}

size_t LandingBufferPool::blocks_created() const {
  std::lock_guard<std::mutex> lock(mu_);
  return created_;
}

}  // namespace cordon::ipc
