#include "ipc/seqpacket_channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

struct Pair {
  SeqpacketChannel a;
  SeqpacketChannel b;
};

Pair MakePair(SeqpacketChannel::Options opts = {}) {
  auto fds = SeqpacketChannel::SocketPair();
  EXPECT_TRUE(fds.ok()) << fds.status();
  return Pair{SeqpacketChannel(std::move(fds->first), opts),
              SeqpacketChannel(std::move(fds->second), opts)};
}

int CountOpenFds() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) ++n;
  }
  return n;
}

TEST(SeqpacketChannelTest, RoundTripsBytesAndFds) {
  Pair p = MakePair();
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  ASSERT_TRUE(p.a.Send("hello", {pipefd[1]}).ok());
  auto got = p.b.Receive(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bytes, "hello");
  ASSERT_EQ(got->fds.size(), 1u);
  // The received fd is a working, close-on-exec duplicate of the pipe's write end.
  EXPECT_EQ(::fcntl(got->fds[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(::write(got->fds[0].get(), "x", 1), 1);
  char c;
  ASSERT_EQ(::read(pipefd[0], &c, 1), 1);
  EXPECT_EQ(c, 'x');
  ::close(pipefd[0]);
  ::close(pipefd[1]);
}

TEST(SeqpacketChannelTest, OversizedDatagramIsAViolationAndNotDelivered) {
  SeqpacketChannel::Options small;
  small.max_datagram_bytes = 1024;
  auto fds = SeqpacketChannel::SocketPair();
  ASSERT_TRUE(fds.ok());
  // The sender is hostile: it does not honour our cap.
  std::string big(4096, 'A');
  ASSERT_EQ(::send(fds->first.get(), big.data(), big.size(), 0), 4096);
  ASSERT_EQ(::send(fds->first.get(), "ok", 2, 0), 2);
  SeqpacketChannel rx(std::move(fds->second), small);
  auto got = rx.Receive(absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(ViolationKindOf(got.status()), ViolationKind::kOversizedDatagram);
  EXPECT_NE(std::string(got.status().message()).find("4096"), std::string::npos) << got.status();
  // The oversized datagram was consumed as a whole; the next one is intact.
  auto next = rx.Receive(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->bytes, "ok");
}

TEST(SeqpacketChannelTest, SendRefusesOverCap) {
  SeqpacketChannel::Options small;
  small.max_datagram_bytes = 16;
  Pair p = MakePair(small);
  EXPECT_FALSE(p.a.Send(std::string(17, 'x')).ok());
  EXPECT_TRUE(p.a.Send(std::string(16, 'x')).ok());
}

TEST(SeqpacketChannelTest, FdFloodIsRejectedAndEveryFdClosed) {
  int before = CountOpenFds();
  {
    Pair p = MakePair();  // cap 4 fds
    auto raw = SeqpacketChannel::SocketPair();
    ASSERT_TRUE(raw.ok());
    std::vector<int> many;
    for (int i = 0; i < 10; ++i) many.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    SeqpacketChannel::Options loose;
    loose.max_fds = 64;
    SeqpacketChannel hostile(std::move(raw->first), loose);
    SeqpacketChannel rx(std::move(raw->second));
    ASSERT_TRUE(hostile.Send("x", many).ok());
    for (int fd : many) ::close(fd);
    int during = CountOpenFds();
    auto got = rx.Receive(absl::Now() + absl::Seconds(5));
    ASSERT_FALSE(got.ok());
    auto kind = ViolationKindOf(got.status());
    ASSERT_TRUE(kind.has_value()) << got.status();
    EXPECT_TRUE(*kind == ViolationKind::kTooManyFds ||
                *kind == ViolationKind::kTruncatedControlData)
        << got.status();
    // Nothing received leaked into our fd table.
    EXPECT_EQ(CountOpenFds(), during);
  }
  EXPECT_EQ(CountOpenFds(), before);
}

TEST(SeqpacketChannelTest, ExactlyMaxFdsIsAccepted) {
  Pair p = MakePair();
  std::vector<int> four;
  for (int i = 0; i < 4; ++i) four.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(p.a.Send("x", four).ok());
  for (int fd : four) ::close(fd);
  auto got = p.b.Receive(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->fds.size(), 4u);
}

TEST(SeqpacketChannelTest, EmptyDatagramIsNotEof) {
  Pair p = MakePair();
  ASSERT_EQ(::send(p.a.fd(), "", 0, 0), 0);
  auto got = p.b.Receive(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(ViolationKindOf(got.status()), ViolationKind::kMalformedEnvelope) << got.status();
}

TEST(SeqpacketChannelTest, DeadlineAndEof) {
  Pair p = MakePair();
  auto got = p.b.Receive(absl::Now() + absl::Milliseconds(20));
  EXPECT_TRUE(absl::IsDeadlineExceeded(got.status())) << got.status();
  p.a.Close();
  got = p.b.Receive(absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  EXPECT_TRUE(absl::IsUnavailable(p.b.Send("x")));
}

// A peer that never reads must not block a bounded sender forever: once the peer's queue is
// full, Send() gives up after send_timeout with DeadlineExceeded, and keeps the unbounded
// default for trusted peers.
TEST(SeqpacketChannelTest, BoundedSendGivesUpWhenThePeerStopsReading) {
  auto pair = SeqpacketChannel::SocketPair();
  ASSERT_TRUE(pair.ok());
  SeqpacketChannel::Options options;
  options.send_timeout = absl::Milliseconds(200);
  SeqpacketChannel sender(std::move(pair->first), options);
  SeqpacketChannel never_reads(std::move(pair->second));
  const std::string message(1024, 'x');
  absl::Status sent;
  int delivered = 0;
  // Bounded loop: the kernel's queue holds far fewer than this many 1 KiB datagrams.
  for (; delivered < 100000; ++delivered) {
    sent = sender.Send(message, {});
    if (!sent.ok()) break;
  }
  EXPECT_TRUE(absl::IsDeadlineExceeded(sent)) << sent;
  EXPECT_GT(delivered, 0);
  EXPECT_LT(delivered, 100000);
  // Room again once the peer reads: the channel still works.
  ASSERT_TRUE(never_reads.Receive(absl::InfiniteFuture()).ok());
  EXPECT_TRUE(sender.Send(message, {}).ok());
}

}  // namespace
}  // namespace cordon::ipc
