// Shared-buffer call inputs end to end: ipc::PluginSession::AcquireInput/Call against the real
// C++ SDK in a forked child (round trips at 1 MiB and 64 MiB, reuse, read-only enforcement,
// retirement on timeout, fallbacks), and the SDK driven by hand-encoded envelopes for the
// checks a correct host never triggers (bounds, unknown buffers) plus a hostile plugin on the
// host side (shared payloads and announcements from a plugin are violations).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ipc/envelope_codec.h"
#include "ipc/plugin_session.h"
#include "ipc/shared_payload_buffer.h"
#include "sdk/cpp/forked_plugin_testing.h"
#include "sdk/cpp/plugin.h"

namespace cordon::sdk {
namespace {

using cordon::v1::Envelope;
using ipc::PluginSession;
using ipc::ProtocolViolation;
using ipc::UniqueFd;
using ipc::ViolationKind;

uint64_t Checksum(absl::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string Kind(const ipc::Payload& in) {
  return in.is_borrowed() ? "shared" : in.is_memfd() ? "memfd" : "inline";
}

void RegisterHandlers(Plugin& p) {
  p.Register("sum", [](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
    return absl::StrCat(Checksum(in.data()), " ", in.size(), " ", Kind(in));
  });
  p.Register("hang", [](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
    for (;;) ::pause();
  });
  // Every way the plugin could try to change the host's buffer; "refused" only if all fail.
  p.Register("tamper",
             [](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
               std::string out;
               const long page = ::sysconf(_SC_PAGESIZE);
               auto addr = reinterpret_cast<uintptr_t>(in.data().data());
               void* start = reinterpret_cast<void*>(addr & ~static_cast<uintptr_t>(page - 1));
               if (::mprotect(start, page, PROT_READ | PROT_WRITE) == 0) out += "mprotect ";
               int found = 0;
               for (int fd = 3; fd < 1024; ++fd) {
                 int seals = ::fcntl(fd, F_GET_SEALS);
                 if (seals < 0 || (seals & F_SEAL_FUTURE_WRITE) == 0) continue;
                 ++found;
                 char c = 'X';
                 if (::pwrite(fd, &c, 1, 0) == 1) out += "write ";
                 void* m = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                 if (m != MAP_FAILED) out += "mmap ";
                 std::string path = absl::StrCat("/proc/self/fd/", fd);
                 int rw = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
                 if (rw >= 0) {
                   if (::pwrite(rw, &c, 1, 0) == 1) out += "reopen-write ";
                   if (::ftruncate(rw, 0) == 0) out += "truncate ";
                   ::close(rw);
                 }
               }
               if (found == 0) return std::string("no shared buffer fd found");
               return out.empty() ? std::string("refused") : out;
             });
}

class ForkedPlugin : public ForkedSdkPlugin {
 public:
  ForkedPlugin(Plugin::Options options, PluginSession::Options session_options)
      : ForkedSdkPlugin(std::move(options), std::move(session_options), RegisterHandlers) {}
};

Plugin::Options PluginOptions() {
  Plugin::Options o;
  o.name = "shared";
  o.version = "1.0.0";
  return o;
}

void Fill(absl::Span<char> data, int seed) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131 + seed) & 0xff);
}

// Fills a leased input, calls "sum", and checks the plugin saw exactly those bytes.
void ExpectSum(PluginSession& s, size_t size, int seed, absl::string_view kind,
               uint64_t* buffer_id = nullptr) {
  auto in = s.AcquireInput(size);
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_EQ(in->data().size(), size);
  Fill(in->data(), seed);
  std::string want =
      absl::StrCat(Checksum(absl::string_view(in->data().data(), size)), " ", size, " ", kind);
  if (buffer_id != nullptr) *buffer_id = in->buffer_id();
  auto out = s.Call("sum", std::move(*in), absl::Seconds(30));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->ToString(), want);
}

TEST(SharedInputTest, RoundTrips1MiBAnd64MiBInPlace) {
  ForkedPlugin fp(PluginOptions(), {});
  auto info = fp.session().Handshake({});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->shared_input);
  ExpectSum(fp.session(), 1 << 20, 1, "shared");
  ExpectSum(fp.session(), 64 << 20, 2, "shared");
  EXPECT_EQ(fp.session().shared_input_stats().created, 2u);
  EXPECT_EQ(fp.session().shared_input_stats().free, 2u);
  EXPECT_TRUE(fp.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_TRUE(fp.violations().empty());
}

TEST(SharedInputTest, BufferIsAnnouncedOnceAndReusedWithNewContent) {
  ForkedPlugin fp(PluginOptions(), {});
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  uint64_t first = 0, second = 0, third = 0;
  ExpectSum(fp.session(), 1 << 20, 3, "shared", &first);
  ExpectSum(fp.session(), 1 << 20, 4, "shared", &second);
  // A smaller input fits the same buffer; the length travels with the reference.
  ExpectSum(fp.session(), 100000, 5, "shared", &third);
  EXPECT_EQ(first, second);
  EXPECT_EQ(first, third);
  EXPECT_EQ(fp.session().shared_input_stats().created, 1u);
}

TEST(SharedInputTest, TruncateSendsOnlyThePrefix) {
  ForkedPlugin fp(PluginOptions(), {});
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  auto in = fp.session().AcquireInput(1 << 20);
  ASSERT_TRUE(in.ok());
  Fill(in->data(), 9);
  std::string want =
      absl::StrCat(Checksum(absl::string_view(in->data().data(), 1000)), " 1000 shared");
  ASSERT_TRUE(in->Truncate(1000).ok());
  EXPECT_FALSE(in->Truncate(1001).ok());
  auto out = fp.session().Call("sum", std::move(*in), absl::Seconds(10));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->ToString(), want);
}

TEST(SharedInputTest, PluginCannotWriteTheBuffer) {
  ForkedPlugin fp(PluginOptions(), {});
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  auto in = fp.session().AcquireInput(1 << 20);
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE(in->is_shared());
  Fill(in->data(), 7);
  absl::Span<char> host_view = in->data();
  uint64_t before = Checksum(absl::string_view(host_view.data(), host_view.size()));
  auto out = fp.session().Call("tamper", std::move(*in), absl::Seconds(10));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->ToString(), "refused");
  // The pages are still the host's (the buffer is free again, still mapped by the pool).
  EXPECT_EQ(Checksum(absl::string_view(host_view.data(), host_view.size())), before);
}

TEST(SharedInputTest, TimeoutRetiresTheBuffer) {
  ForkedPlugin fp(PluginOptions(), {});
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  ExpectSum(fp.session(), 1 << 20, 1, "shared");
  ASSERT_EQ(fp.session().shared_input_stats().free, 1u);
  auto in = fp.session().AcquireInput(1 << 20);
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE(in->is_shared());
  EXPECT_EQ(fp.session().shared_input_stats().free, 0u);
  auto out = fp.session().Call("hang", std::move(*in), absl::Milliseconds(300));
  EXPECT_TRUE(absl::IsDeadlineExceeded(out.status())) << out.status();
  // Not back in the pool: the hung plugin may still be reading it.
  auto stats = fp.session().shared_input_stats();
  EXPECT_EQ(stats.free, 0u);
  EXPECT_EQ(stats.created, 1u);
  ASSERT_EQ(fp.violations().size(), 1u);
  EXPECT_EQ(fp.violations()[0].kind, ViolationKind::kCallDeadlineExceeded);
}

TEST(SharedInputTest, DroppedUnsentInputGoesBackToThePool) {
  ForkedPlugin fp(PluginOptions(), {});
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  {
    auto in = fp.session().AcquireInput(4096);
    ASSERT_TRUE(in.ok());
    EXPECT_EQ(fp.session().shared_input_stats().free, 0u);
  }
  EXPECT_EQ(fp.session().shared_input_stats().free, 1u);
  // Never announced yet: the next use must announce it, or the plugin would refuse the call.
  ExpectSum(fp.session(), 4096, 2, "shared");
}

TEST(SharedInputTest, PluginThatDidNotOptInGetsMemfds) {
  Plugin::Options o = PluginOptions();
  o.max_shared_buffers = 0;
  ForkedPlugin fp(o, {});
  auto info = fp.session().Handshake({});
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->shared_input);
  EXPECT_FALSE(fp.session().shared_input_stats().enabled);
  auto in = fp.session().AcquireInput(1 << 20);
  ASSERT_TRUE(in.ok());
  EXPECT_FALSE(in->is_shared());
  ExpectSum(fp.session(), 1 << 20, 3, "memfd");
  EXPECT_TRUE(fp.violations().empty());
}

TEST(SharedInputTest, OutOfBuffersFallsBackToMemfd) {
  PluginSession::Options so;
  so.shared_inputs.max_buffers = 1;
  ForkedPlugin fp(PluginOptions(), so);
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  auto held = fp.session().AcquireInput(1 << 20);
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(held->is_shared());
  ExpectSum(fp.session(), 1 << 20, 4, "memfd");
  // Over the plugin's per-buffer cap: memfd too.
  Plugin::Options small = PluginOptions();
  small.max_shared_buffer_bytes = 1 << 20;
  ForkedPlugin fp2(small, {});
  ASSERT_TRUE(fp2.session().Handshake({}).ok());
  ExpectSum(fp2.session(), 2 << 20, 5, "memfd");
  ExpectSum(fp2.session(), 1 << 20, 6, "shared");
}

TEST(SharedInputTest, InputFromAnotherSessionIsRefused) {
  ForkedPlugin a(PluginOptions(), {});
  ForkedPlugin b(PluginOptions(), {});
  ASSERT_TRUE(a.session().Handshake({}).ok());
  ASSERT_TRUE(b.session().Handshake({}).ok());
  auto in = a.session().AcquireInput(4096);
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE(in->is_shared());
  // Its buffer id means nothing (or another buffer) to b's plugin.
  auto out = b.session().Call("sum", std::move(*in), absl::Seconds(10));
  EXPECT_TRUE(absl::IsInvalidArgument(out.status())) << out.status();
  EXPECT_TRUE(b.session().status().ok());
  EXPECT_EQ(a.session().shared_input_stats().free, 1u);  // not sent: back in a's pool
}

// The SDK driven by hand: a host that announces a buffer and sends references a correct host
// never sends.
class HandDriven {
 public:
  HandDriven() {
    auto fds = ipc::SeqpacketChannel::SocketPair();
    EXPECT_TRUE(fds.ok());
    pid_ = ::fork();
    if (pid_ == 0) {
      fds->first.reset();
      Plugin plugin(PluginOptions());
      RegisterHandlers(plugin);
      absl::Status s = plugin.ServeFd(fds->second.release());
      ::_exit(s.ok() ? 0 : 10 + static_cast<int>(s.code()));
    }
    fds->second.reset();
    channel_ = std::make_unique<ipc::SeqpacketChannel>(std::move(fds->first),
                                                       ipc::SeqpacketChannel::Options{});
  }
  ~HandDriven() {
    channel_.reset();
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  Envelope Receive() {
    for (;;) {
      auto dg = channel_->Receive(absl::Now() + absl::Seconds(10));
      EXPECT_TRUE(dg.ok()) << dg.status();
      if (!dg.ok()) return Envelope();
      auto env = codec_.Decode(dg->bytes);
      EXPECT_TRUE(env.ok());
      if (env->has_log() || env->has_heartbeat()) continue;
      return *env;
    }
  }
  void Send(const Envelope& env, std::vector<int> fds = {}) {
    auto bytes = codec_.Encode(env);
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(channel_->Send(*bytes, fds).ok());
  }
  cordon::v1::Hello Handshake() {
    Envelope hello = Receive();
    Envelope welcome;
    welcome.mutable_welcome()->set_protocol_version(1);
    Send(welcome);
    EXPECT_TRUE(Receive().has_ready());
    return hello.hello();
  }
  cordon::v1::CallResult Call(uint64_t id, uint64_t buffer_id, uint64_t offset, uint64_t length) {
    Envelope req;
    req.mutable_call_request()->set_id(id);
    req.mutable_call_request()->set_method("sum");
    auto* ref = req.mutable_call_request()->mutable_payload()->mutable_shared();
    ref->set_buffer_id(buffer_id);
    ref->set_offset(offset);
    ref->set_length(length);
    Send(req);
    Envelope r = Receive();
    EXPECT_TRUE(r.has_call_result());
    return r.call_result();
  }

 private:
  pid_t pid_ = -1;
  std::unique_ptr<ipc::SeqpacketChannel> channel_;
  ipc::EnvelopeCodec codec_{ipc::EnvelopeLimits{}};
};

TEST(SharedInputTest, SdkRefusesOutOfBoundsAndUnknownReferences) {
  HandDriven host;
  cordon::v1::Hello hello = host.Handshake();
  ASSERT_TRUE(hello.has_shared_input());
  EXPECT_GT(hello.shared_input().max_buffers(), 0u);
  auto buffer = ipc::SharedPayloadBuffer::Create("test", 64 * 1024);
  ASSERT_TRUE(buffer.ok());
  Fill(buffer->mutable_data(), 1);
  auto peer = buffer->PeerFd();
  ASSERT_TRUE(peer.ok());
  Envelope announce;
  announce.mutable_shared_buffer_announce()->set_buffer_id(7);
  announce.mutable_shared_buffer_announce()->set_fd_index(0);
  host.Send(announce, {peer->get()});

  auto ok = host.Call(1, 7, 100, 1000);
  ASSERT_TRUE(ok.has_payload()) << ok.error().message();
  EXPECT_EQ(ok.payload().inline_(),
            absl::StrCat(Checksum(absl::string_view(buffer->mutable_data().data() + 100, 1000)),
                         " 1000 shared"));
  // The whole buffer is fine, one byte more is not.
  EXPECT_TRUE(host.Call(2, 7, 0, 64 * 1024).has_payload());
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  struct Bad {
    uint64_t buffer, offset, length;
    const char* why;
  } bad[] = {{7, 0, 64 * 1024 + 1, "outside the buffer"},
             {7, 64 * 1024 + 1, 0, "outside the buffer"},
             {7, 1, max, "outside the buffer"},
             {7, max, 2, "outside the buffer"},
             {8, 0, 1, "never announced"}};
  uint64_t id = 3;
  for (const Bad& b : bad) {
    auto r = host.Call(id++, b.buffer, b.offset, b.length);
    ASSERT_TRUE(r.has_error()) << b.offset << "+" << b.length;
    EXPECT_EQ(r.error().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
    EXPECT_NE(r.error().message().find(b.why), std::string::npos) << r.error().message();
  }
  // Still serving after the refusals.
  EXPECT_TRUE(host.Call(id++, 7, 0, 10).has_payload());
}

TEST(SharedInputTest, SdkRefusesAnnouncementsOverItsCapsAndUnsealedBuffers) {
  HandDriven host;
  cordon::v1::Hello hello = host.Handshake();
  // A plain memfd without the future-write seal: refused, calls naming it fail.
  int raw = ::memfd_create("plain", MFD_CLOEXEC);
  ASSERT_GE(raw, 0);
  UniqueFd plain(raw);
  ASSERT_EQ(::ftruncate(raw, 4096), 0);
  Envelope announce;
  announce.mutable_shared_buffer_announce()->set_buffer_id(1);
  announce.mutable_shared_buffer_announce()->set_fd_index(0);
  host.Send(announce, {raw});
  auto r = host.Call(1, 1, 0, 10);
  ASSERT_TRUE(r.has_error());
  EXPECT_NE(r.error().message().find("never announced"), std::string::npos);
  // Over the per-buffer cap the plugin offered.
  auto big =
      ipc::SharedPayloadBuffer::Create("big", hello.shared_input().max_buffer_bytes() + 4096);
  ASSERT_TRUE(big.ok());
  auto peer = big->PeerFd();
  ASSERT_TRUE(peer.ok());
  announce.mutable_shared_buffer_announce()->set_buffer_id(2);
  host.Send(announce, {peer->get()});
  r = host.Call(2, 2, 0, 10);
  ASSERT_TRUE(r.has_error());
  EXPECT_NE(r.error().message().find("never announced"), std::string::npos);
}

// A hostile plugin on the host side, opted in to shared inputs: sends a shared reference as
// its result, or an announcement of its own.
cordon::v1::Hello SharedInputHello() {
  cordon::v1::Hello hello = FakeHello();
  hello.mutable_shared_input()->set_max_buffers(4);
  hello.mutable_shared_input()->set_max_buffer_bytes(1 << 20);
  return hello;
}

TEST(SharedInputTest, PluginSendingASharedResultIsABadPayloadViolation) {
  FakePlugin fp(SharedInputHello(), [](ipc::SeqpacketChannel& ch, ipc::EnvelopeCodec& codec) {
    auto dg = ch.Receive(absl::Now() + absl::Seconds(10));
    if (!dg.ok()) return;
    auto req = codec.Decode(dg->bytes);
    if (!req.ok()) return;
    Envelope res;
    res.mutable_call_result()->set_id(req->call_request().id());
    res.mutable_call_result()->mutable_payload()->mutable_shared()->set_buffer_id(1);
    res.mutable_call_result()->mutable_payload()->mutable_shared()->set_length(1);
    (void)ch.Send(*codec.Encode(res));
  });
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  auto out = fp.session().CallBytes("m", "x", absl::Seconds(10));
  EXPECT_FALSE(out.ok());
  ASSERT_EQ(fp.violations().size(), 1u);
  EXPECT_EQ(fp.violations()[0].kind, ViolationKind::kBadPayload);
}

TEST(SharedInputTest, PluginSendingAnAnnouncementIsAnUnexpectedMessage) {
  FakePlugin fp(SharedInputHello(), [](ipc::SeqpacketChannel& ch, ipc::EnvelopeCodec& codec) {
    auto dg = ch.Receive(absl::Now() + absl::Seconds(10));
    if (!dg.ok()) return;
    Envelope a;
    a.mutable_shared_buffer_announce()->set_buffer_id(1);
    (void)ch.Send(*codec.Encode(a));
  });
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  auto out = fp.session().CallBytes("m", "x", absl::Seconds(10));
  EXPECT_FALSE(out.ok());
  ASSERT_EQ(fp.violations().size(), 1u);
  EXPECT_EQ(fp.violations()[0].kind, ViolationKind::kUnexpectedMessage);
}

}  // namespace
}  // namespace cordon::sdk
