#ifndef CORDON_SDK_CPP_SHARED_BUFFER_SET_H_
#define CORDON_SDK_CPP_SHARED_BUFFER_SET_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cordon/v1/envelope.pb.h"
#include "ipc/payload.h"
#include "ipc/shared_payload_buffer.h"
#include "ipc/shared_result_buffer.h"
#include "ipc/unique_fd.h"
#include "sdk/cpp/output.h"

namespace cordon::sdk {

// The plugin's side of the shared buffers the host announces: input buffers it maps read-only
// (SharedBufferAnnounce; call inputs are ranges of them) and result buffers it writes results
// into in place (ResultBufferAnnounce; a call may be lent one). Serving thread only.
//
// Result buffers are written only under a lend: between BeginCall() with the id the request
// lent and EndCall() after its result was sent. The host lends a buffer to one outstanding call
// at a time and only after copying the previous result out of it, so a lend is also the signal
// that the previous result in it was consumed. Within a call at most one Output takes the
// buffer (one in-flight result per buffer), and it stops being writable at EndCall().
class SharedBufferSet {
 public:
  struct Caps {
    uint32_t max_input_buffers = 0;
    uint64_t max_input_buffer_bytes = 0;
    uint32_t max_result_buffers = 0;
    uint64_t max_result_buffer_bytes = 0;
  };

  explicit SharedBufferSet(Caps caps) : caps_(caps) {}

  // Sets the Hello's opt-ins (shared_input, shared_result) for non-zero caps.
  void OfferIn(cordon::v1::Hello* hello) const;

  // Announcements. Non-OK: refused (the caller logs it); a call naming a refused input buffer
  // fails with bad_payload, a call lent a refused result buffer writes a memfd instead.
  absl::Status AcceptInput(const cordon::v1::SharedBufferAnnounce& announce,
                           std::vector<ipc::UniqueFd>* fds);
  absl::Status AcceptResult(const cordon::v1::ResultBufferAnnounce& announce,
                            std::vector<ipc::UniqueFd>* fds);
  // A call input naming a range of an announced input buffer, bounds-checked (kBadPayload).
  absl::StatusOr<ipc::Payload> ResolveInput(const cordon::v1::SharedRef& ref) const;

  // One call: `result_buffer_id` is what its request lent (0: none; always 0 on data channels,
  // whose callers are host clients that may not lend the host's buffers).
  void BeginCall(uint64_t result_buffer_id);
  // A range of the lent buffer for the first output of the call that fits, else a memfd.
  // FailedPrecondition outside a call.
  absl::StatusOr<Output> AcquireOutput(size_t size);
  // When `result` lies within the output the call took from its lent buffer, fills `out` with
  // a SharedRef to it and returns true; otherwise the result goes inline or as a memfd.
  bool ToSharedRef(const ipc::Payload& result, cordon::v1::Payload* out);
  // After the call's result was sent: the buffer is the host's until a later request lends it.
  void EndCall();

 private:
  const Caps caps_;
  std::map<uint64_t, ipc::SharedPayloadBuffer> inputs_;
  std::map<uint64_t, ipc::SharedResultBuffer> results_;
  // The current call (call_live_ is set while one runs).
  uint64_t lent_ = 0;
  bool output_taken_ = false;
  std::shared_ptr<bool> call_live_;
};

}  // namespace cordon::sdk

#endif  // CORDON_SDK_CPP_SHARED_BUFFER_SET_H_
