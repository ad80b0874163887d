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
  Entry* best = nullptr;
  uint64_t best_id = 0;
  for (auto& [id, e] : entries_) {
    if (e.leased || e.buffer.capacity() < size) continue;
    if (best == nullptr || e.buffer.capacity() < best->buffer.capacity()) {
      best = &e;
      best_id = id;
    }
  }
  if (best == nullptr) {
    uint64_t capacity = (size + kGranule - 1) / kGranule * kGranule;
    if (capacity > options_.max_buffer_bytes) capacity = size;
    if (created_ >= options_.max_buffers || capacity > options_.max_total_bytes - total_bytes_ ||
        total_bytes_ > options_.max_total_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no free shared input buffer of ", size, " bytes (", created_, " of ",
                       options_.max_buffers, " buffers, ", total_bytes_, " of ",
                       options_.max_total_bytes, " bytes in use)"));
    }
    auto buffer = SharedPayloadBuffer::Create("cordon-shared-input", capacity);
    if (!buffer.ok()) return buffer.status();
    best_id = next_id_++;
    best = &entries_[best_id];
    best->buffer = std::move(*buffer);
    ++created_;
    total_bytes_ += capacity;
  }
  best->leased = true;
  Lease lease;
  lease.buffer_id = best_id;
  lease.data = best->buffer.mutable_data();
  lease.needs_announce = !best->announced;
  return lease;
}

absl::StatusOr<UniqueFd> SharedInputPool::PeerFd(uint64_t buffer_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(buffer_id);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("no shared input buffer ", buffer_id));
  }
  return it->second.buffer.PeerFd();
}

void SharedInputPool::MarkAnnounced(uint64_t buffer_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(buffer_id);
  if (it != entries_.end()) it->second.announced = true;
}

void SharedInputPool::Release(uint64_t buffer_id, bool reusable) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(buffer_id);
  if (it == entries_.end()) return;
  if (reusable) {
    it->second.leased = false;
  } else {
    // created_ and total_bytes_ keep counting it: the plugin still maps it.
    entries_.erase(it);
  }
}

size_t SharedInputPool::free_buffers() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [id, e] : entries_) n += e.leased ? 0 : 1;
  return n;
}

size_t SharedInputPool::buffers_created() const {
  std::lock_guard<std::mutex> lock(mu_);
  return created_;
}

}  // namespace cordon::ipc
