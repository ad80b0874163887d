#include "ipc/session_buffers.h"

#include <algorithm>
#include <utility>

#include "ipc/memfd_payload.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {

SessionBuffers::ResultLoan::ResultLoan(ResultLoan&& o) noexcept
    : pool_(std::move(o.pool_)), lease_(std::exchange(o.lease_, {})), reusable_(o.reusable_) {}

SessionBuffers::ResultLoan::~ResultLoan() {
  if (pool_ != nullptr) pool_->Release(lease_.buffer_id, reusable_);
}

bool SessionBuffers::OffersSharedInput(const cordon::v1::Hello& hello) {
  return hello.has_shared_input() && hello.shared_input().max_buffers() > 0 &&
         hello.shared_input().max_buffer_bytes() > 0;
}

bool SessionBuffers::OffersSharedResult(const cordon::v1::Hello& hello) {
  return hello.has_shared_result() && hello.shared_result().max_buffers() > 0 &&
         hello.shared_result().max_buffer_bytes() > 0;
}

void SessionBuffers::Enable(const cordon::v1::Hello& hello,
                            const cordon::v1::PluginLimits& welcome) {
  std::shared_ptr<SharedInputPool> inputs;
  std::shared_ptr<SharedResultPool> results;
  if (OffersSharedInput(hello) && options_.inputs.max_buffers > 0) {
    SharedInputPool::Options o = options_.inputs;
    o.max_buffers = std::min<size_t>(o.max_buffers, hello.shared_input().max_buffers());
    o.max_buffer_bytes = std::min(o.max_buffer_bytes, hello.shared_input().max_buffer_bytes());
    inputs = std::make_shared<SharedInputPool>(o);
  }
  if (OffersSharedResult(hello) && options_.results.max_buffers > 0) {
    SharedResultPool::Options o = options_.results;
    o.max_buffers = std::min<size_t>(o.max_buffers, hello.shared_result().max_buffers());
    // No result may exceed the payload caps (the host's and the one Welcome announced), and
    // the plugin pays for the pages it writes, so its memory limit bounds a buffer too.
    o.buffer_bytes = std::min(
        {o.buffer_bytes, hello.shared_result().max_buffer_bytes(), options_.max_payload_bytes});
    for (uint64_t cap : {welcome.max_payload_bytes(), welcome.memory_bytes()}) {
      if (cap > 0) o.buffer_bytes = std::min(o.buffer_bytes, cap);
    }
    if (o.buffer_bytes > 0) results = std::make_shared<SharedResultPool>(o);
  }
  std::lock_guard<std::mutex> lock(mu_);
  inputs_ = std::move(inputs);
  results_ = std::move(results);
}

std::shared_ptr<SharedInputPool> SessionBuffers::inputs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return inputs_;
}

std::shared_ptr<SharedResultPool> SessionBuffers::results() const {
  std::lock_guard<std::mutex> lock(mu_);
  return results_;
}

absl::StatusOr<SharedInput> SessionBuffers::AcquireInput(size_t size) {
  if (std::shared_ptr<SharedInputPool> pool = inputs(); pool != nullptr) {
    // Out of buffers (or over the caps) falls through to the memfd path.
    if (auto lease = pool->Acquire(size); lease.ok()) {
      return SharedInput::FromLease(std::move(pool), *lease, size);
    }
  }
  auto memfd = MemfdPayload::CreateWritable("cordon-input", size);
  if (!memfd.ok()) return memfd.status();
  return SharedInput::FromMemfd(std::move(*memfd));
}

bool SessionBuffers::Owns(const SharedInput& input) const { return input.pool_ == inputs(); }

SessionBuffers::ResultLoan SessionBuffers::LendResultBuffer() {
  ResultLoan loan;
  std::shared_ptr<SharedResultPool> pool = results();
  if (pool == nullptr) return loan;
  // All lent (concurrent calls): this call lends none; its result comes inline or as a memfd.
  // So does a call whose buffer could not be made (memfd_create or mmap refused), which the
  // stats count and name instead of dropping.
  absl::StatusOr<SharedResultPool::Lease> lease = pool->Acquire();
  if (lease.ok()) {
    loan.pool_ = std::move(pool);
    loan.lease_ = *lease;
  } else if (!absl::IsResourceExhausted(lease.status())) {
    std::lock_guard<std::mutex> lock(mu_);
    ++lend_failures_;
    last_lend_error_ = std::string(lease.status().message());
  }
  return loan;
}

namespace {

// Sends the announcement of a leased buffer (`field` picks SharedBufferAnnounce or
// ResultBufferAnnounce) with a fresh peer fd of it, once per buffer.
template <typename Pool, typename Lease, typename Announcement>
absl::Status AnnounceOnce(Pool& pool, Lease& lease, Announcement* (cordon::v1::Envelope::*field)(),
                          const SessionBuffers::SendFn& send) {
  if (!lease.needs_announce) return absl::OkStatus();
  absl::StatusOr<UniqueFd> fd = pool.PeerFd(lease.buffer_id);
  if (!fd.ok()) return fd.status();
  cordon::v1::Envelope env;
  Announcement* announcement = (env.*field)();
  announcement->set_buffer_id(lease.buffer_id);
  announcement->set_fd_index(0);
  const int raw = fd->get();
  if (absl::Status s = send(env, absl::MakeConstSpan(&raw, 1)); !s.ok()) return s;
  pool.MarkAnnounced(lease.buffer_id);
  lease.needs_announce = false;
  return absl::OkStatus();
}

}  // namespace

absl::Status SessionBuffers::Announce(SharedInput* input, ResultLoan* loan, const SendFn& send) {
  if (input != nullptr && input->pool_ != nullptr) {
    if (absl::Status s = AnnounceOnce(*input->pool_, input->lease_,
                                      &cordon::v1::Envelope::mutable_shared_buffer_announce, send);
        !s.ok()) {
      return s;
    }
  }
  if (loan->pool_ != nullptr) {
    return AnnounceOnce(*loan->pool_, loan->lease_,
                        &cordon::v1::Envelope::mutable_result_buffer_announce, send);
  }
  return absl::OkStatus();
}

absl::StatusOr<Payload> SessionBuffers::DecodeResult(uint64_t lent_id,
                                                     const cordon::v1::Payload& proto,
                                                     std::vector<UniqueFd>* fds) const {
  if (!proto.has_shared()) return Payload::FromProto(proto, fds, options_.max_payload_bytes);
  std::shared_ptr<SharedResultPool> pool = results();
  if (pool == nullptr) {
    return ViolationStatus(ViolationKind::kBadPayload,
                           "shared-buffer result from a plugin that is lent no result buffers "
                           "(its hello did not offer shared_result)");
  }
  // Checked strictly before anything is read, then copied once: the caller gets a private
  // snapshot that the plugin, which can rewrite the buffer at any time, cannot change.
  return pool->CopyOut(lent_id, proto.shared(), options_.max_payload_bytes);
}

SessionBuffers::InputStats SessionBuffers::input_stats() const {
  InputStats stats;
  std::shared_ptr<SharedInputPool> pool = inputs();
  if (pool == nullptr) return stats;
  stats.enabled = true;
  stats.created = pool->buffers_created();
  stats.free = pool->free_buffers();
  return stats;
}

SessionBuffers::ResultStats SessionBuffers::result_stats() const {
  ResultStats stats;
  std::shared_ptr<SharedResultPool> pool = results();
  if (pool == nullptr) return stats;
  stats.enabled = true;
  stats.created = pool->buffers_created();
  stats.free = pool->free_buffers();
  stats.copied = pool->results_copied();
  stats.viewed = pool->results_viewed();
  std::lock_guard<std::mutex> lock(mu_);
  stats.lend_failures = lend_failures_;
  stats.last_lend_error = last_lend_error_;
  stats.buffer_bytes = pool->options().buffer_bytes;
  return stats;
}

}  // namespace cordon::ipc
