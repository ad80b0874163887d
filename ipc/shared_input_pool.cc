#include "ipc/shared_input_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace cordon::ipc {

namespace {
// Rounding up lets slightly different sizes share a buffer without wasting much.
constexpr uint64_t kGranule = 64 * 1024;
}  // namespace

SharedInputPool::SharedInputPool(Options options) : options_(options) {}

absl::StatusOr<SharedInputPool::Lease> SharedInputPool::Acquire(uint64_t size) {
  if (size == 0) return absl::InvalidArgumentError("shared input of 0 bytes");
  if (size > options_.max_buffer_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "shared input of ", size, " bytes is over the buffer cap of ", options_.max_buffer_bytes));
  }
  std::lock_guard<std::mutex> lock(mu_);
  LeasedBuffers<SharedPayloadBuffer>::Entry* best = nullptr;
  uint64_t best_id = 0;
  for (auto& [id, e] : buffers_.entries()) {
    if (e.leased || e.buffer->capacity() < size) continue;
    if (best == nullptr || e.buffer->capacity() < best->buffer->capacity()) {
      best = &e;
      best_id = id;
    }
  }
  if (best == nullptr) {
    uint64_t capacity = (size + kGranule - 1) / kGranule * kGranule;
    if (capacity > options_.max_buffer_bytes) capacity = size;
    const uint64_t total = buffers_.total_bytes();
    if (buffers_.created() >= options_.max_buffers || total > options_.max_total_bytes ||
        capacity > options_.max_total_bytes - total) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no free shared input buffer of ", size, " bytes (", buffers_.created(),
                       " of ", options_.max_buffers, " buffers, ", total, " of ",
                       options_.max_total_bytes, " bytes in use)"));
    }
    auto buffer = SharedPayloadBuffer::Create("cordon-shared-input", capacity);
    if (!buffer.ok()) return buffer.status();
    best_id = buffers_.AddLeased(std::move(*buffer), capacity);
    best = &buffers_.entries()[best_id];
  }
  best->leased = true;
  Lease lease;
  lease.buffer_id = best_id;
  lease.data = best->buffer->mutable_data();
  lease.needs_announce = !best->announced;
  return lease;
}

absl::StatusOr<UniqueFd> SharedInputPool::PeerFd(uint64_t buffer_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffers_.PeerFd(buffer_id);
}

void SharedInputPool::MarkAnnounced(uint64_t buffer_id) {
  std::lock_guard<std::mutex> lock(mu_);
  buffers_.MarkAnnounced(buffer_id);
}

void SharedInputPool::Release(uint64_t buffer_id, bool reusable) {
  std::shared_ptr<SharedPayloadBuffer> retired;  // unmapped after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  retired = buffers_.Release(buffer_id, reusable);
}

size_t SharedInputPool::free_buffers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffers_.free_count();
}

size_t SharedInputPool::buffers_created() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffers_.created();
}

}  // namespace cordon::ipc
