#include "ipc/shared_result_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "ipc/protocol_violation.h"
#include "ipc/shared_payload_buffer.h"

namespace cordon::ipc {

SharedResultPool::SharedResultPool(Options options)
    : options_(options), landing_(LandingBufferPool::Create(options.landing)) {}

absl::StatusOr<SharedResultPool::Lease> SharedResultPool::Acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, e] : entries_) {  // ordered by id: the lowest free one
    if (e.leased) continue;
    e.leased = true;
    return Lease{id, !e.announced};
  }
  if (created_ >= options_.max_buffers) {
    return absl::ResourceExhaustedError(
        absl::StrCat("all ", created_, " shared result buffers are lent (max_buffers ",
                     options_.max_buffers, ")"));
  }
  // Cheap: no page is allocated until the plugin writes one.
  auto buffer = SharedResultBuffer::Create("cordon-shared-result", options_.buffer_bytes);
  if (!buffer.ok()) return buffer.status();
  const uint64_t id = next_id_++;
  Entry& e = entries_[id];
  e.buffer = std::make_shared<const SharedResultBuffer>(std::move(*buffer));
  e.leased = true;
  ++created_;
  return Lease{id, true};
}

absl::StatusOr<UniqueFd> SharedResultPool::PeerFd(uint64_t buffer_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(buffer_id);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("no shared result buffer ", buffer_id));
  }
  return it->second.buffer->PeerFd();
}

void SharedResultPool::MarkAnnounced(uint64_t buffer_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(buffer_id);
  if (it != entries_.end()) it->second.announced = true;
}

void SharedResultPool::Release(uint64_t buffer_id, bool reusable) {
  std::shared_ptr<const SharedResultBuffer> retired;  // unmapped outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(buffer_id);
  if (it == entries_.end()) return;
  if (reusable) {
    it->second.leased = false;
  } else {
    retired = std::move(it->second.buffer);
    entries_.erase(it);
  }
}

absl::StatusOr<Payload> SharedResultPool::CopyOut(uint64_t lent_id,
                                                  const cordon::v1::SharedRef& ref,
                                                  uint64_t max_bytes) {
  auto violation = [&](absl::string_view why) {
    return ViolationStatus(ViolationKind::kBadPayload,
                           absl::StrCat("shared result [", ref.offset(), ", +", ref.length(),
                                        ") of buffer ", ref.buffer_id(), ": ", why));
  };
  if (lent_id == 0) return violation("the call was lent no result buffer");
  if (ref.buffer_id() != lent_id) {
    return violation(absl::StrCat("the call was lent buffer ", lent_id,
                                  "; a result may only name the buffer its request lent"));
  }
  std::shared_ptr<const SharedResultBuffer> buffer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(lent_id);
    if (it != entries_.end() && it->second.leased) buffer = it->second.buffer;
  }
  if (buffer == nullptr) return violation("no such buffer is lent");
  if (ref.length() > max_bytes) {
    return violation(absl::StrCat("length over the payload cap of ", max_bytes, " bytes"));
  }
  if (absl::Status s =
          SharedPayloadBuffer::CheckRange(ref.offset(), ref.length(), buffer->capacity());
      !s.ok()) {
    return s;
  }
  if (ref.length() == 0) return Payload();
  auto block = landing_->Acquire(ref.length());
  if (!block.ok()) return block.status();
  if (absl::Status s = buffer->CopyOut(ref.offset(), ref.length(), (*block)->data()); !s.ok()) {
    return s;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++copied_;
  }
  absl::string_view bytes((*block)->data(), ref.length());
  return Payload::Owned(bytes, std::move(*block));
}

size_t SharedResultPool::buffers_created() const {
  std::lock_guard<std::mutex> lock(mu_);
  return created_;
}

size_t SharedResultPool::free_buffers() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [id, e] : entries_) n += e.leased ? 0 : 1;
  return n;
}

uint64_t SharedResultPool::results_copied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return copied_;
}

}  // namespace cordon::ipc
