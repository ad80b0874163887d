#include "ipc/seqpacket_channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

// Room for the fd cap plus one more, so an fd flood is seen as "too many" rather than as
// truncated control data: the kernel fills what fits and sets MSG_CTRUNC for the rest (closing
// the rest itself).
constexpr size_t kMaxFdsHardLimit = 64;

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

}  // namespace

SeqpacketChannel::SeqpacketChannel(UniqueFd fd, Options options)
    : fd_(std::move(fd)), options_(options) {
  options_.max_fds = std::min(options_.max_fds, kMaxFdsHardLimit);
}

absl::StatusOr<std::pair<UniqueFd, UniqueFd>> SeqpacketChannel::SocketPair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair(AF_UNIX, SOCK_SEQPACKET)");
  }
  return std::make_pair(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

absl::Status SeqpacketChannel::Send(absl::string_view bytes, absl::Span<const int> fds) {
  if (!fd_.valid()) return absl::FailedPreconditionError("channel is closed");
  if (bytes.size() > options_.max_datagram_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("message of ", bytes.size(),
                                                   " bytes exceeds the datagram cap of ",
                                                   options_.max_datagram_bytes));
  }
  if (fds.size() > options_.max_fds) {
    return absl::InvalidArgumentError(
        absl::StrCat(fds.size(), " fds exceed the per-message cap of ", options_.max_fds));
  }
  struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsHardLimit)];
  if (!fds.empty()) {
    std::memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  const bool bounded = options_.send_timeout != absl::InfiniteDuration();
  const absl::Time deadline =
      bounded ? absl::Now() + options_.send_timeout : absl::InfiniteFuture();
  for (;;) {
    ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | (bounded ? MSG_DONTWAIT : 0));
    if (n >= 0) return absl::OkStatus();
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      // A full peer queue: wait for room (rather than drop a message), but only so long.
      int timeout_ms = -1;
      if (bounded) {
        absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          return absl::DeadlineExceededError(
              absl::StrCat("the peer has not read its channel for ",
                           absl::FormatDuration(options_.send_timeout), " (its queue is full)"));
        }
        timeout_ms =
            static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
      }
      struct pollfd pfd = {fd_.get(), POLLOUT, 0};
      ::poll(&pfd, 1, timeout_ms);
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
      return absl::UnavailableError("peer closed the channel");
    }
    return absl::ErrnoToStatus(errno, "sendmsg on channel");
  }
}

absl::StatusOr<bool> SeqpacketChannel::WaitReadable(absl::Time deadline) {
  if (!fd_.valid()) return absl::FailedPreconditionError("channel is closed");
  for (;;) {
    struct pollfd pfd = {fd_.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, PollTimeoutMs(deadline));
    if (r < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "poll on channel");
    }
    if (r == 0) {
      if (deadline != absl::InfiniteFuture() && absl::Now() < deadline) continue;
      return false;
    }
    return true;
  }
}

absl::StatusOr<SeqpacketChannel::Datagram> SeqpacketChannel::Receive(absl::Time deadline) {
  if (!fd_.valid()) return absl::FailedPreconditionError("channel is closed");
  // Syscalls per message matter for call latency: without a deadline this is one blocking
  // recvmsg; with a deadline already passed, one non-blocking recvmsg (the caller polled);
  // otherwise poll + recvmsg.
  const bool forever = deadline == absl::InfiniteFuture();
  if (!forever && deadline > absl::Now()) {
    auto readable = WaitReadable(deadline);
    if (!readable.ok()) return readable.status();
    if (!*readable) return absl::DeadlineExceededError("no message before the deadline");
  }
  return ReceiveOnce(forever ? 0 : MSG_DONTWAIT, forever);
}

absl::StatusOr<SeqpacketChannel::Datagram> SeqpacketChannel::ReceiveBlocking() {
  if (!fd_.valid()) return absl::FailedPreconditionError("channel is closed");
  return ReceiveOnce(0, false);
}

absl::Status SeqpacketChannel::SetReceiveTimeout(absl::Duration timeout) {
  struct timeval tv = absl::ToTimeval(timeout);
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
    return absl::ErrnoToStatus(errno, "setsockopt(SO_RCVTIMEO) on channel");
  }
  return absl::OkStatus();
}

absl::StatusOr<SeqpacketChannel::Datagram> SeqpacketChannel::ReceiveOnce(int flags,
                                                                         bool retry_eagain) {
  // Sized once from our cap (never from the peer); MSG_TRUNC makes the kernel report an
  // oversized datagram's real length instead of silently cutting it.
  if (buffer_.size() < options_.max_datagram_bytes) buffer_.resize(options_.max_datagram_bytes);
  struct iovec iov = {buffer_.data(), buffer_.size()};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * (kMaxFdsHardLimit + 1))];
  struct msghdr msg = {};
  ssize_t n;
  for (;;) {
    msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (options_.max_fds + 1));
    n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_TRUNC | flags);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN && retry_eagain) {
      auto readable = WaitReadable(absl::InfiniteFuture());
      if (!readable.ok()) return readable.status();
      continue;
    }
    if (errno == EAGAIN) return absl::DeadlineExceededError("no message before the deadline");
    if (errno == ECONNRESET) return absl::UnavailableError("peer closed the channel");
    return absl::ErrnoToStatus(errno, "recvmsg on channel");
  }
  // Take ownership of every fd first so each error path below closes them.
  Datagram out;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        out.fds.emplace_back(fd);
      }
    }
  }
  if (n == 0 && out.fds.empty() && !(msg.msg_flags & MSG_TRUNC)) {
    // SEQPACKET reports EOF as a zero-length read, but a peer can also send an empty
    // datagram; only a hung-up socket is EOF.
    struct pollfd pfd = {fd_.get(), POLLRDHUP, 0};
    if (::poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLRDHUP)) != 0) {
      return absl::UnavailableError("peer closed the channel");
    }
    return ViolationStatus(ViolationKind::kMalformedEnvelope, "empty datagram");
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    return ViolationStatus(ViolationKind::kTruncatedControlData,
                           absl::StrCat("control data truncated (more than ", options_.max_fds,
                                        " fds or unexpected ancillary data)"));
  }
  if (out.fds.size() > options_.max_fds) {
    return ViolationStatus(
        ViolationKind::kTooManyFds,
        absl::StrCat("message carries ", out.fds.size(), " fds, cap is ", options_.max_fds));
  }
  if ((msg.msg_flags & MSG_TRUNC) || static_cast<size_t>(n) > options_.max_datagram_bytes) {
    return ViolationStatus(
        ViolationKind::kOversizedDatagram,
        absl::StrCat("datagram of ", n, " bytes exceeds the cap of ", options_.max_datagram_bytes));
  }
  out.bytes.assign(buffer_.data(), static_cast<size_t>(n));
  return out;
}

}  // namespace cordon::ipc
