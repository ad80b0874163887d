#ifndef CORDON_IPC_SEQPACKET_CHANNEL_H_
#define CORDON_IPC_SEQPACKET_CHANNEL_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// One end of a SOCK_SEQPACKET channel: one datagram = one message, with optional fds passed by
// SCM_RIGHTS. The receive side never allocates from a length the peer chose: the buffer is sized
// once from max_datagram_bytes and an oversized datagram is detected with MSG_TRUNC.
// Send() may be called from several threads at once (each datagram is one sendmsg); Receive()
// must be called by one thread at a time.
class SeqpacketChannel {
 public:
  struct Options {
    // Hard cap on one datagram; larger ones are a protocol violation.
    size_t max_datagram_bytes = 64 * 1024;
    // Hard cap on fds attached to one datagram.
    size_t max_fds = 4;
    // How long Send() waits for room in the peer's queue before giving up with
    // DeadlineExceeded. A peer that stops reading (a hostile plugin pipelining requests
    // without reading the answers) must not block the sender forever.
    absl::Duration send_timeout = absl::InfiniteDuration();
  };

  struct Datagram {
    std::string bytes;
    std::vector<UniqueFd> fds;
  };

  SeqpacketChannel(UniqueFd fd, Options options);
  explicit SeqpacketChannel(UniqueFd fd) : SeqpacketChannel(std::move(fd), Options()) {}
  SeqpacketChannel(SeqpacketChannel&&) = default;
  SeqpacketChannel& operator=(SeqpacketChannel&&) = default;

  // A connected SOCK_SEQPACKET | SOCK_CLOEXEC socketpair.
  static absl::StatusOr<std::pair<UniqueFd, UniqueFd>> SocketPair();

  // Sends one datagram. Fails (without sending) when bytes or fds exceed the caps.
  absl::Status Send(absl::string_view bytes, absl::Span<const int> fds = {});

  // Receives one datagram, waiting until deadline (absl::InfiniteFuture() waits forever).
  // Errors: DeadlineExceeded (nothing arrived), Unavailable (peer closed), a violation status
  // (see protocol_violation.h) for oversized datagrams, too many fds or truncated control data;
  // any fds that arrived with a rejected datagram are closed.
  absl::StatusOr<Datagram> Receive(absl::Time deadline);

  // One blocking recvmsg, bounded only by SetReceiveTimeout() (DeadlineExceeded when it
  // expires) or by shutdown() of the socket (Unavailable). Saves the poll() of Receive() on
  // latency-critical paths.
  absl::StatusOr<Datagram> ReceiveBlocking();
  // SO_RCVTIMEO for ReceiveBlocking().
  absl::Status SetReceiveTimeout(absl::Duration timeout);

  // Waits until a datagram (or EOF) is readable, or deadline. Returns true when readable.
  absl::StatusOr<bool> WaitReadable(absl::Time deadline);

  int fd() const { return fd_.get(); }
  const Options& options() const { return options_; }
  // Closes our end: the peer sees EOF.
  void Close() { fd_.reset(); }

 private:
  UniqueFd fd_;
  // One recvmsg with `flags` added, then validation. retry_eagain: wait and retry on EAGAIN
  // (a non-blocking fd) instead of reporting DeadlineExceeded.
  absl::StatusOr<Datagram> ReceiveOnce(int flags, bool retry_eagain);

  Options options_;
  std::vector<char> buffer_;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_SEQPACKET_CHANNEL_H_
