// Shared result buffers end to end: ipc::PluginSession against the real C++ SDK in a forked
// child, whose handlers write results in place (Plugin::AcquireOutput): 1 MiB and 64 MiB
// results, a plugin that keeps rewriting the buffer after it answered (the host's bytes are a
// copy and stay put), concurrent calls, every fallback to memfds (no opt-in on either side,
// too large, a second output, data channels), and hostile references from a fake plugin.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "ipc/envelope_codec.h"
#include "ipc/plugin_session.h"
#include "sdk/cpp/forked_plugin_testing.h"
#include "sdk/cpp/plugin.h"

namespace cordon::sdk {
namespace {

using cordon::v1::Envelope;
using ipc::PluginSession;
using ipc::ViolationKind;

void Fill(absl::Span<char> data, int seed) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131 + seed) & 0xff);
}

std::string Expected(size_t size, int seed) {
  std::string s(size, '\0');
  Fill(absl::MakeSpan(s), seed);
  return s;
}

// "size seed" → an output of `size` bytes filled with Fill(seed), written in place.
absl::StatusOr<ipc::Payload> Produce(Plugin& p, const ipc::Payload& in) {
  std::vector<std::string> parts = absl::StrSplit(in.data(), ' ');
  size_t size = 0;
  int seed = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &size) ||
      !absl::SimpleAtoi(parts[1], &seed)) {
    return absl::InvalidArgumentError("want 'size seed'");
  }
  auto out = p.AcquireOutput(size);
  if (!out.ok()) return out.status();
  Fill(out->data(), seed);
  return std::move(*out).Finish();
}

// Passes of the scribbler thread over the buffer (see "scribble").
std::atomic<uint64_t> scribbles{0};
// An output kept past its call ("keep", then "stale").
Output kept;

void RegisterHandlers(Plugin& p, int gate_fd) {
  p.Register("produce",
             [&p](const CallContext&, const ipc::Payload& in) { return Produce(p, in); });
  // Waits for a byte on the gate pipe first, so the test can hold the call outstanding.
  p.Register("gated", [&p, gate_fd](const CallContext&, const ipc::Payload& in) {
    char c;
    while (::read(gate_fd, &c, 1) < 0 && errno == EINTR) {
    }
    return Produce(p, in);
  });
  p.Register("output_kind",
             [&p](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
               auto o = p.AcquireOutput(1 << 20);
               if (!o.ok()) return o.status();
               return std::string(o->is_shared() ? "shared" : "memfd");
             });
  p.Register("keep", [&p](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
    auto o = p.AcquireOutput(1 << 20);
    if (!o.ok()) return o.status();
    kept = std::move(*o);
    return std::string(kept.is_shared() ? "shared" : "memfd");
  });
  p.Register("stale", [](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
    return absl::StrCat(kept.data().size(), " ", std::move(kept).Finish().status().ToString());
  });
  p.Register("two_outputs",
             [&p](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
               auto a = p.AcquireOutput(1 << 20);
               auto b = p.AcquireOutput(1 << 20);
               if (!a.ok() || !b.ok()) return absl::InternalError("AcquireOutput failed");
               return absl::StrCat(a->is_shared(), " ", b->is_shared());
             });
  // A hostile plugin: answers with a result in the lent buffer and keeps rewriting the whole
  // buffer from another thread, while the host copies it and long after (the raw pointer
  // outlives the call; a plugin is free to ignore the rules).
  p.Register("scribble", [&p](const CallContext&, const ipc::Payload& in) {
    auto out = Produce(p, in);
    if (out.ok()) {
      char* data = const_cast<char*>(out->data().data());
      size_t size = out->size();
      std::thread([data, size] {
        for (uint64_t pass = 1;; ++pass) {
          std::memset(data, static_cast<int>('A' + pass % 20), size);
          scribbles.store(pass);
        }
      }).detach();
    }
    return out;
  });
  p.Register("scribbles",
             [](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
               return absl::StrCat(scribbles.load());
             });
}

Plugin::Options PluginOptions() {
  Plugin::Options o;
  o.name = "results";
  o.version = "1.0.0";
  return o;
}

// A forked SDK plugin with the handlers above; `gate_fd` is the read end of the test's pipe.
class ResultPlugin : public ForkedSdkPlugin {
 public:
  explicit ResultPlugin(Plugin::Options options = PluginOptions(),
                        PluginSession::Options session_options = {}, int gate_fd = -1)
      : ForkedSdkPlugin(std::move(options), std::move(session_options),
                        [gate_fd](Plugin& p) { RegisterHandlers(p, gate_fd); }) {}
};

absl::StatusOr<ipc::Payload> Call(PluginSession& s, absl::string_view method, size_t size,
                                  int seed) {
  return s.Call(method, ipc::Payload(absl::StrCat(size, " ", seed)), absl::Seconds(60));
}

TEST(SharedResultTest, ResultsOf1MiBAnd64MiBAreWrittenInPlaceAndCopiedOutOnce) {
  ResultPlugin fp;
  auto info = fp.session().Handshake({});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->shared_result);
  EXPECT_EQ(info->shared_result_caps.max_buffers(), 4u);
  int seed = 1;
  for (size_t size : {size_t{1} << 20, size_t{64} << 20, size_t{1} << 20}) {
    auto out = Call(fp.session(), "produce", size, seed);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(out->is_owned_view()) << size;
    EXPECT_TRUE(out->data() == Expected(size, seed)) << size;
    ++seed;
  }
  auto stats = fp.session().shared_result_stats();
  EXPECT_TRUE(stats.enabled);
  EXPECT_EQ(stats.copied, 3u);
  EXPECT_EQ(stats.created, 1u);  // one buffer, reused: calls one at a time
  EXPECT_EQ(stats.free, 1u);
  EXPECT_TRUE(fp.session().Shutdown(absl::Seconds(10)).ok());
  EXPECT_TRUE(fp.violations().empty());
}

TEST(SharedResultTest, TheHostsBytesStayPutWhileThePluginRewritesItsBuffer) {
  ResultPlugin fp;
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  const size_t size = 1 << 20;
  auto out = Call(fp.session(), "scribble", size, 7);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), size);
  ASSERT_TRUE(out->is_owned_view());
  const std::string snapshot(out->data());
  // Wait (by asking the plugin, no sleeping) until its thread has rewritten the whole buffer
  // twice more after the snapshot: a view of the buffer would have changed by now.
  auto passes = [&]() -> uint64_t {
    auto n = fp.session().CallBytes("scribbles", "", absl::Seconds(10));
    uint64_t v = 0;
    EXPECT_TRUE(n.ok() && absl::SimpleAtoi(*n, &v)) << n.status();
    return v;
  };
  const uint64_t start = passes();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (passes() < start + 2 && absl::Now() < deadline) {
  }
  ASSERT_GE(passes(), start + 2) << "the scribbler never ran";
  EXPECT_TRUE(out->data() == snapshot);
  // The host is unaffected and still takes results from the buffer under fire.
  auto again = Call(fp.session(), "produce", size, 8);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->size(), size);
  EXPECT_TRUE(out->data() == snapshot);
  EXPECT_TRUE(fp.session().status().ok());
  EXPECT_TRUE(fp.violations().empty());
}

TEST(SharedResultTest, DangerViewsAreTheBufferItselfAndKeepItFromBeingLentAgain) {
  PluginSession::Options so;
  so.shared_results.danger_unstable_result_views = true;
  ResultPlugin fp(PluginOptions(), so);
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  const size_t size = 1 << 20;
  {
    auto first = Call(fp.session(), "produce", size, 3);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_TRUE(first->data() == Expected(size, 3));
    EXPECT_EQ(fp.session().shared_result_stats().viewed, 1u);
    EXPECT_EQ(fp.session().shared_result_stats().copied, 0u);
    // While `first` lives, buffer 1 is not lent: the next call writes buffer 2, and the bytes
    // the caller holds are not overwritten.
    auto second = Call(fp.session(), "produce", size, 4);
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_TRUE(second->data() == Expected(size, 4));
    EXPECT_TRUE(first->data() == Expected(size, 3));
    EXPECT_EQ(fp.session().shared_result_stats().created, 2u);
    EXPECT_EQ(fp.session().shared_result_stats().free, 0u);
  }
  // Both dropped: calls one at a time go back to buffer 1, no new buffer.
  auto third = Call(fp.session(), "produce", size, 5);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(third->data() == Expected(size, 5));
  EXPECT_EQ(fp.session().shared_result_stats().created, 2u);
  EXPECT_EQ(fp.session().shared_result_stats().viewed, 3u);
  EXPECT_TRUE(fp.session().Shutdown(absl::Seconds(10)).ok());
  EXPECT_TRUE(fp.violations().empty());
}

TEST(SharedResultTest, ConcurrentCallsAreLentDifferentBuffers) {
  int gate[2];
  ASSERT_EQ(::pipe2(gate, O_CLOEXEC), 0);
  ipc::UniqueFd gate_r(gate[0]), gate_w(gate[1]);
  ResultPlugin fp(PluginOptions(), {}, gate_r.get());
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  auto wait_created = [&](size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (fp.session().shared_result_stats().created < n && absl::Now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_EQ(fp.session().shared_result_stats().created, n);
  };
  absl::StatusOr<ipc::Payload> first, second;
  std::thread a([&] { first = Call(fp.session(), "gated", 3 << 20, 1); });
  wait_created(1);  // lent buffer 1, held up in the plugin
  std::thread b([&] { second = Call(fp.session(), "produce", 2 << 20, 2); });
  wait_created(2);  // buffer 1 is lent: the second call gets buffer 2
  ASSERT_EQ(::write(gate_w.get(), "g", 1), 1);
  a.join();
  b.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(first->data() == Expected(3 << 20, 1));
  EXPECT_TRUE(second->data() == Expected(2 << 20, 2));
  auto stats = fp.session().shared_result_stats();
  EXPECT_EQ(stats.copied, 2u);
  EXPECT_EQ(stats.free, 2u);
}

TEST(SharedResultTest, OneOutputPerCallTakesTheBuffer) {
  ResultPlugin fp;
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  auto out = fp.session().CallBytes("two_outputs", "", absl::Seconds(10));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "1 0");
}

TEST(SharedResultTest, AnOutputIsNoLongerWritableOnceItsCallEnded) {
  ResultPlugin fp;
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  auto keep = fp.session().CallBytes("keep", "", absl::Seconds(10));
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_EQ(*keep, "shared");
  // The buffer is the host's again (and the next call's): the SDK hands out no bytes of it.
  auto stale = fp.session().CallBytes("stale", "", absl::Seconds(10));
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->substr(0, 22), "0 FAILED_PRECONDITION:") << *stale;
}

TEST(SharedResultTest, PluginThatDidNotOptInStillWorksThroughMemfds) {
  Plugin::Options o = PluginOptions();
  o.max_result_buffers = 0;
  ResultPlugin fp(o);
  auto info = fp.session().Handshake({});
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->shared_result);
  EXPECT_FALSE(fp.session().shared_result_stats().enabled);
  auto out = Call(fp.session(), "produce", 1 << 20, 3);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->is_memfd());
  EXPECT_TRUE(out->data() == Expected(1 << 20, 3));
  EXPECT_TRUE(fp.violations().empty());
}

TEST(SharedResultTest, HostThatLendsNothingGetsMemfds) {
  PluginSession::Options so;
  so.shared_results.max_buffers = 0;
  ResultPlugin fp(PluginOptions(), so);
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  EXPECT_FALSE(fp.session().shared_result_stats().enabled);
  auto out = Call(fp.session(), "produce", 1 << 20, 4);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->is_memfd());
  EXPECT_TRUE(out->data() == Expected(1 << 20, 4));
}

TEST(SharedResultTest, BufferIsBoundedByTheLimitsAndLargerResultsAreMemfds) {
  ResultPlugin fp;
  ipc::HandshakeParams params;
  params.limits.set_memory_bytes(uint64_t{2} << 20);  // the plugin pays for its pages
  ASSERT_TRUE(fp.session().Handshake(params).ok());
  EXPECT_EQ(fp.session().shared_result_stats().buffer_bytes, uint64_t{2} << 20);
  auto big = Call(fp.session(), "produce", 3 << 20, 5);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_TRUE(big->is_memfd());
  EXPECT_TRUE(big->data() == Expected(3 << 20, 5));
  auto fits = Call(fp.session(), "produce", 2 << 20, 6);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_TRUE(fits->is_owned_view());
  EXPECT_TRUE(fits->data() == Expected(2 << 20, 6));
  // Small results written in place still travel inline.
  auto small = Call(fp.session(), "produce", 1000, 7);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_FALSE(small->is_owned_view() || small->is_memfd());
  EXPECT_EQ(small->data(), Expected(1000, 7));
  EXPECT_EQ(fp.session().shared_result_stats().copied, 1u);
}

TEST(SharedResultTest, DataChannelCallersCannotLendTheHostsBuffers) {
  ResultPlugin fp;
  ASSERT_TRUE(fp.session().Handshake({}).ok());
  // Through the host, the call is lent buffer 1 (announced now).
  auto kind = fp.session().CallBytes("output_kind", "", absl::Seconds(10));
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, "shared");
  auto pair = ipc::SeqpacketChannel::SocketPair();
  ASSERT_TRUE(pair.ok());
  ASSERT_TRUE(fp.session().SendDataChannelOpen(1, pair->second.get()).ok());
  ipc::SeqpacketChannel client(std::move(pair->first), {.max_datagram_bytes = 1 << 20});
  // A client naming it is ignored: its handler gets a memfd, and results come inline.
  auto call = [&](uint64_t id, const std::string& method, const std::string& input) {
    Envelope req;
    req.mutable_call_request()->set_id(id);
    req.mutable_call_request()->set_method(method);
    req.mutable_call_request()->mutable_payload()->set_inline_(input);
    req.mutable_call_request()->set_result_buffer_id(1);  // not the client's to lend
    EXPECT_TRUE(client.Send(req.SerializeAsString()).ok());
    auto dg = client.Receive(absl::Now() + absl::Seconds(10));
    EXPECT_TRUE(dg.ok()) << dg.status();
    Envelope res;
    EXPECT_TRUE(dg.ok() && res.ParseFromString(dg->bytes));
    EXPECT_TRUE(res.call_result().has_payload()) << res.call_result().error().message();
    return res.call_result().payload();
  };
  EXPECT_EQ(call(1, "output_kind", "").inline_(), "memfd");
  EXPECT_EQ(call(2, "produce", "100000 9").inline_(), Expected(100000, 9));
  EXPECT_TRUE(fp.session().status().ok());
}

// A plugin that opts in to shared results (one 1 MiB buffer) and answers each call with a
// reference into its buffer: {lent id + id_delta, offset, length}.
struct RefAnswer {
  const char* name;
  int64_t id_delta;  // -1000: buffer id 0
  uint64_t offset;
  uint64_t length;
};

FakePlugin RefPlugin(const RefAnswer& a) {
  cordon::v1::Hello hello = FakeHello();
  hello.mutable_shared_result()->set_max_buffers(1);
  hello.mutable_shared_result()->set_max_buffer_bytes(1 << 20);
  return FakePlugin(hello, [a](ipc::SeqpacketChannel& ch, ipc::EnvelopeCodec& codec) {
    auto dg = ch.Receive(absl::Now() + absl::Seconds(10));  // the buffer's announcement
    dg = ch.Receive(absl::Now() + absl::Seconds(10));       // the call
    if (!dg.ok()) return;
    auto in = codec.Decode(dg->bytes);
    if (!in.ok() || !in->has_call_request()) return;
    const uint64_t lent = in->call_request().result_buffer_id();
    Envelope out;
    out.mutable_call_result()->set_id(in->call_request().id());
    auto* ref = out.mutable_call_result()->mutable_payload()->mutable_shared();
    ref->set_buffer_id(a.id_delta == -1000 ? 0 : lent + a.id_delta);
    ref->set_offset(a.offset);
    ref->set_length(a.length);
    (void)ch.Send(*codec.Encode(out));
  });
}

TEST(SharedResultTest, ABadReferenceIsABadPayloadViolationAndFailsTheSession) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t cap = 1 << 20;
  const RefAnswer bad[] = {
      {"another id", 1, 0, 10},
      {"no id", -1000, 0, 10},
      {"offset past the end", 0, cap + 1, 0},
      {"length past the end", 0, 10, cap},
      {"offset + length wraps", 0, max, 2},
      {"length over the payload cap", 0, 0, max},
  };
  for (const RefAnswer& a : bad) {
    FakePlugin fp = RefPlugin(a);
    ASSERT_TRUE(fp.session().Handshake({}).ok()) << a.name;
    auto out = fp.session().CallBytes("m", "x", absl::Seconds(10));
    EXPECT_FALSE(out.ok()) << a.name;
    EXPECT_FALSE(fp.session().status().ok()) << a.name;
    ASSERT_EQ(fp.violations().size(), 1u) << a.name;
    EXPECT_EQ(fp.violations()[0].kind, ViolationKind::kBadPayload) << a.name;
  }
  // The same fake naming its lent buffer correctly is served (zeros: it wrote nothing).
  FakePlugin good = RefPlugin({"good", 0, 5, 100});
  ASSERT_TRUE(good.session().Handshake({}).ok());
  auto out = good.session().CallBytes("m", "x", absl::Seconds(10));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, std::string(100, '\0'));
}

}  // namespace
}  // namespace cordon::sdk
