#include "ipc/shared_result_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ipc/protocol_violation.h"
#include "ipc/shared_payload_buffer.h"

namespace cordon::ipc {

namespace {

// The host's copies kept for reuse stay within one buffer's worth: a plugin returning a few
// large results must not leave the host holding several of them for the rest of the session.
LandingBufferPool::Options LandingOptions(const SharedResultPool::Options& options) {
  LandingBufferPool::Options landing = options.landing;
  landing.max_free_bytes = std::min(landing.max_free_bytes, options.buffer_bytes);
  return landing;
}

}  // namespace

SharedResultPool::SharedResultPool(Options options)
    : options_(options), landing_(LandingBufferPool::Create(LandingOptions(options))) {}

absl::StatusOr<SharedResultPool::Lease> SharedResultPool::Acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, e] : buffers_.entries()) {  // ordered by id: the lowest free one
    if (e.leased || Viewed(id)) continue;
    e.leased = true;
    return Lease{id, !e.announced};
  }
  if (buffers_.created() >= options_.max_buffers) {
    return absl::ResourceExhaustedError(
        absl::StrCat("all ", buffers_.created(), " shared result buffers are lent (max_buffers ",
                     options_.max_buffers, ")"));
  }
  // Cheap: no page is allocated until the plugin writes one.
  auto buffer = SharedResultBuffer::Create("cordon-shared-result", options_.buffer_bytes);
  if (!buffer.ok()) return buffer.status();
  return Lease{buffers_.AddLeased(std::move(*buffer), options_.buffer_bytes), true};
}

absl::StatusOr<UniqueFd> SharedResultPool::PeerFd(uint64_t buffer_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffers_.PeerFd(buffer_id);
}

void SharedResultPool::MarkAnnounced(uint64_t buffer_id) {
  std::lock_guard<std::mutex> lock(mu_);
  buffers_.MarkAnnounced(buffer_id);
}

void SharedResultPool::Release(uint64_t buffer_id, bool reusable) {
  std::shared_ptr<SharedResultBuffer> retired;  // unmapped after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  retired = buffers_.Release(buffer_id, reusable);
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
    auto it = buffers_.entries().find(lent_id);
    if (it != buffers_.entries().end() && it->second.leased) buffer = it->second.buffer;
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
  if (options_.danger_unstable_result_views) {
    // A page missing from the range falls through to the copy, which reads holes without
    // allocating them.
    if (auto view = buffer->DangerUnstableView(ref.offset(), ref.length()); view.ok()) {
      // The owner keeps the mapping alive; the weak reference keeps the buffer from being lent
      // (and rewritten by a plugin told its last result was taken) while any copy lives.
      // An owner of its own (not `buffer`, which the pool's entry shares) so that it expires
      // with the caller's last copy.
      std::shared_ptr<const void> owner =
          std::make_shared<std::shared_ptr<const SharedResultBuffer>>(buffer);
      std::lock_guard<std::mutex> lock(mu_);
      ++viewed_;
      views_[lent_id] = owner;
      return Payload::Owned(*view, std::move(owner));
    }
  }
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
  return buffers_.created();
}

size_t SharedResultPool::free_buffers() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [id, e] : buffers_.entries()) n += (e.leased || Viewed(id)) ? 0 : 1;
  return n;
}

bool SharedResultPool::Viewed(uint64_t buffer_id) const {
  auto it = views_.find(buffer_id);
  return it != views_.end() && !it->second.expired();
}

uint64_t SharedResultPool::results_viewed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return viewed_;
}

uint64_t SharedResultPool::results_copied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return copied_;
}

}  // namespace cordon::ipc
