#ifndef CORDON_IPC_SESSION_BUFFERS_H_
#define CORDON_IPC_SESSION_BUFFERS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cordon/v1/envelope.pb.h"
#include "ipc/payload.h"
#include "ipc/shared_input.h"
#include "ipc/shared_input_pool.h"
#include "ipc/shared_result_pool.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// The shared buffers of one plugin session, host side: call inputs the host writes in place
// (SharedInputPool, host → plugin) and call results the plugin writes in place
// (SharedResultPool, plugin → host). Each is enabled only for a plugin whose Hello opted in to
// it, within the plugin's caps. PluginSession uses it around every call: LendResultBuffer() and
// Announce() before the request, DecodeResult() for the result. Thread-safe.
class SessionBuffers {
 public:
  struct Options {
    SharedInputPool::Options inputs;
    SharedResultPool::Options results;
    // The host's cap on one payload from the plugin.
    uint64_t max_payload_bytes = uint64_t{1} << 30;
  };
  struct InputStats {
    bool enabled = false;  // the plugin opted in and the options allow it
    size_t created = 0;    // buffers announced or being filled, retired ones included
    size_t free = 0;       // ready for the next AcquireInput
  };
  struct ResultStats {
    bool enabled = false;        // the plugin opted in and the options allow it
    size_t created = 0;          // buffers announced or lent, retired ones included
    size_t free = 0;             // not lent to an outstanding call
    uint64_t copied = 0;         // results copied out of a shared buffer
    uint64_t viewed = 0;         // results viewed in place (danger_unstable_result_views)
    uint64_t lend_failures = 0;  // calls that lent no buffer because making one failed
    std::string last_lend_error;
    uint64_t buffer_bytes = 0;  // capacity of each buffer
  };

  // The result buffer lent to one call (none: buffer_id() 0). Destroying it ends the lease; the
  // buffer is lent again only if it is still reusable then (see set_reusable).
  class ResultLoan {
   public:
    ResultLoan() = default;
    ResultLoan(ResultLoan&& o) noexcept;
    ResultLoan& operator=(ResultLoan&&) = delete;
    ResultLoan(const ResultLoan&) = delete;
    ResultLoan& operator=(const ResultLoan&) = delete;
    ~ResultLoan();
    uint64_t buffer_id() const { return lease_.buffer_id; }
    // false once the request went out, true again once its result was consumed: in between the
    // plugin may be writing the buffer, so a call that times out retires it.
    void set_reusable(bool reusable) { reusable_ = reusable; }

   private:
    friend class SessionBuffers;
    std::shared_ptr<SharedResultPool> pool_;
    SharedResultPool::Lease lease_;
    bool reusable_ = true;
  };

  using SendFn = std::function<absl::Status(const cordon::v1::Envelope&, absl::Span<const int>)>;

  explicit SessionBuffers(Options options) : options_(options) {}
  SessionBuffers(const SessionBuffers&) = delete;
  SessionBuffers& operator=(const SessionBuffers&) = delete;

  // Whether a Hello opts in to shared inputs / shared results (set, with non-zero caps).
  static bool OffersSharedInput(const cordon::v1::Hello& hello);
  static bool OffersSharedResult(const cordon::v1::Hello& hello);

  // After Welcome: enables what `hello` opted in to. Result buffers are also bounded by the
  // payload cap and memory limit announced in `welcome` (the plugin pays for the pages it
  // writes, so no buffer is larger than its memory limit).
  void Enable(const cordon::v1::Hello& hello, const cordon::v1::PluginLimits& welcome);

  // A leased shared input buffer when enabled and one is free, else a writable memfd.
  absl::StatusOr<SharedInput> AcquireInput(size_t size);
  // False for a shared input leased from another session's pool.
  bool Owns(const SharedInput& input) const;
  // The result buffer for one call; none when not enabled or every buffer is lent.
  ResultLoan LendResultBuffer();
  // Sends through `send` the announcements the call's request needs first (its input buffer
  // and its result buffer, each once per session): the plugin maps a buffer before it reads
  // the request that names or lends it. `input` may be null.
  absl::Status Announce(SharedInput* input, ResultLoan* loan, const SendFn& send);
  // A CallResult's payload. A shared reference is checked against the buffer lent to that
  // call (lent_id) and copied out (SharedResultPool::CopyOut); a plugin that was not enabled
  // for shared results sending one is a kBadPayload violation. Anything else goes through
  // Payload::FromProto.
  absl::StatusOr<Payload> DecodeResult(uint64_t lent_id, const cordon::v1::Payload& proto,
                                       std::vector<UniqueFd>* fds) const;

  InputStats input_stats() const;
  ResultStats result_stats() const;

 private:
  std::shared_ptr<SharedInputPool> inputs() const;
  std::shared_ptr<SharedResultPool> results() const;

  const Options options_;
  mutable std::mutex mu_;
  std::shared_ptr<SharedInputPool> inputs_;    // set by Enable() on opt-in
  std::shared_ptr<SharedResultPool> results_;  // set by Enable() on opt-in
  uint64_t lend_failures_ = 0;                 // guarded by mu_
  std::string last_lend_error_;                // guarded by mu_
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_SESSION_BUFFERS_H_
