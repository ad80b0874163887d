#ifndef CORDON_SDK_CPP_OUTPUT_H_
#define CORDON_SDK_CPP_OUTPUT_H_

#include <cstddef>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "ipc/memfd_payload.h"
#include "ipc/payload.h"

namespace cordon::sdk {

// A call result a handler writes in place (Plugin::AcquireOutput), then returns with Finish().
//
// When the host lent the call a shared result buffer (CallRequest.result_buffer_id) and the
// result fits, the bytes are a range of that buffer: the SDK answers with a SharedRef and the
// host copies them out once. After the buffer's pages were first written, no page is allocated
// per call on either side. Otherwise (no buffer lent: an older host, all buffers lent to
// concurrent calls, a data channel; a result larger than the buffer; a second output in the same
// call) a writable memfd, sealed at Finish() and sent as a sealed memfd.
//
// A shared output belongs to its call: data() is empty and Finish() fails once the handler has
// returned, because from then on the buffer is the host's to read and, once copied, the next
// call's to write. Move-only.
class Output {
 public:
  Output() = default;
  Output(Output&& o) noexcept;
  Output& operator=(Output&& o) noexcept;
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // Exactly size() writable bytes (empty once the call has ended). The bytes of a shared output
  // start as whatever an earlier result left there: write every byte you return.
  absl::Span<char> data();
  size_t size() const { return size_; }
  // Returns only the first `size` bytes (<= size()).
  absl::Status Truncate(size_t size);
  // True: a range of the shared result buffer lent to this call; false: a memfd.
  bool is_shared() const { return call_live_ != nullptr; }
  // The handler's return value: a view of the shared buffer (sent as a SharedRef) or the
  // sealed memfd. FailedPrecondition for a shared output whose call has ended.
  absl::StatusOr<ipc::Payload> Finish() &&;

 private:
  friend class SharedBufferSet;
  static Output Shared(absl::Span<char> bytes, std::shared_ptr<const bool> call_live);
  static Output Memfd(ipc::MemfdPayload memfd);
  bool call_ended() const { return call_live_ != nullptr && !*call_live_; }

  std::shared_ptr<const bool> call_live_;  // shared outputs: false once the call ended
  absl::Span<char> shared_;
  std::optional<ipc::MemfdPayload> memfd_;
  size_t size_ = 0;
};

}  // namespace cordon::sdk

#endif  // CORDON_SDK_CPP_OUTPUT_H_
