#ifndef CORDON_IPC_SHARED_RESULT_POOL_H_
#define CORDON_IPC_SHARED_RESULT_POOL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "cordon/v1/common.pb.h"
#include "ipc/landing_buffer_pool.h"
#include "ipc/leased_buffers.h"
#include "ipc/payload.h"
#include "ipc/shared_result_buffer.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// The host's result buffers for one plugin session (plugin → host call results written in
// place). A buffer is lent to one outstanding call at a time (CallRequest.result_buffer_id) and
// lent again only after the host has copied that call's result out of it (or the call never
// reached the plugin): that is the rule that lets the plugin rewrite it for its next result.
// CopyOut checks the plugin's SharedRef strictly before touching anything and copies the bytes
// once into a LandingBufferPool block, so the caller gets a private snapshot the plugin cannot
// change. Retired buffers (a call that timed out, a failed session) keep counting against
// max_buffers: the plugin keeps its mapping of every buffer it was announced. Thread-safe.
class SharedResultPool {
 public:
  struct Options {
    // Buffers lent at once, i.e. outstanding calls whose results may be written in place; the
    // plugin's cap applies too. Lowest id first, so a plugin answering one call at a time only
    // ever writes (and pays for the pages of) buffer 1. 0: off.
    size_t max_buffers = 2;
    // Capacity of each buffer; the session lowers it to the plugin's cap, the payload cap and the
    // plugin's memory limit. Larger results travel as sealed memfds.
    uint64_t buffer_bytes = uint64_t{256} << 20;
    // The host's copies, kept for reuse once the caller drops them; max_free_bytes is lowered
    // to buffer_bytes.
    LandingBufferPool::Options landing;
    // DANGER. CopyOut returns a view of the plugin's buffer instead of a copy (when every page
    // of the range is resident; otherwise it copies). The plugin can rewrite those bytes while
    // the caller reads them: a caller that checks a byte and then uses it again reads what the
    // plugin chose in between (a double fetch). Only for callers that read each byte once and
    // trust none of it, e.g. ones that stream a result to a file or a socket. A page the plugin
    // punches out after the residency check is faulted in on the host's account when read
    // (bounded by the buffer's size, as for copies). The buffer is not
    // lent again until the last copy of the returned Payload is dropped. Off by default.
    bool danger_unstable_result_views = false;
  };

  struct Lease {
    uint64_t buffer_id = 0;
    // First use: it must be announced (fd sent) before the request that lends it.
    bool needs_announce = false;
  };

  explicit SharedResultPool(Options options);
  SharedResultPool(const SharedResultPool&) = delete;
  SharedResultPool& operator=(const SharedResultPool&) = delete;

  // A buffer for one call: the free one with the lowest id, else a new one within max_buffers.
  // ResourceExhausted when every buffer is lent: the call then lends none.
  absl::StatusOr<Lease> Acquire();
  // A read-write fd of a lent buffer, for its announcement.
  absl::StatusOr<UniqueFd> PeerFd(uint64_t buffer_id) const;
  void MarkAnnounced(uint64_t buffer_id);
  // Ends a lease. reusable: the call's result was consumed (copied out, if it named the buffer)
  // or the request never went out; otherwise the buffer is retired (never lent again).
  void Release(uint64_t buffer_id, bool reusable);

  // The result of a call that was lent buffer `lent_id` (0: none) names `ref`. Violations
  // (kBadPayload) before anything is read: no buffer lent, another buffer's id, a length over
  // max_bytes, a range outside the buffer (offset + length computed without overflow). Then the
  // bytes are copied once into a landing block and returned as Payload::Owned (or viewed in
  // place, see danger_unstable_result_views).
  absl::StatusOr<Payload> CopyOut(uint64_t lent_id, const cordon::v1::SharedRef& ref,
                                  uint64_t max_bytes);

  const Options& options() const { return options_; }
  // Live plus retired.
  size_t buffers_created() const;
  size_t free_buffers() const;
  uint64_t results_copied() const;
  // Results returned as views (danger_unstable_result_views).
  uint64_t results_viewed() const;
  const LandingBufferPool& landing() const { return *landing_; }

 private:
  // Under mu_: a view of the buffer (danger_unstable_result_views) is still alive.
  bool Viewed(uint64_t buffer_id) const;

  const Options options_;
  const std::shared_ptr<LandingBufferPool> landing_;
  mutable std::mutex mu_;
  // CopyOut holds a buffer's shared_ptr without the lock.
  LeasedBuffers<SharedResultBuffer> buffers_{"shared result buffer"};
  uint64_t copied_ = 0;
  uint64_t viewed_ = 0;
  // Buffers with a live view (danger_unstable_result_views): not lent until it expires.
  std::map<uint64_t, std::weak_ptr<const void>> views_;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_SHARED_RESULT_POOL_H_
