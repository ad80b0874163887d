// Host session against scripted (mostly hostile) peers. The well-behaved plugin side is the
// real SDK, tested in sdk/cpp/plugin_test.cc.
#include "ipc/plugin_session.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "ipc/envelope_codec.h"

namespace cordon::ipc {
namespace {

using cordon::v1::Envelope;

// Collects violations reported by a session; Wait() blocks until one arrives.
class ViolationLog {
 public:
  std::function<void(const ProtocolViolation&)> Callback() {
    return [this](const ProtocolViolation& v) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(v);
      cv_.notify_all();
    };
  }
  ProtocolViolation Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    // A generous bound so a missing report fails the test instead of hanging it.
    EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return !seen_.empty(); }));
    return seen_.empty() ? ProtocolViolation{ViolationKind::kBadPayload, "none"} : seen_[0];
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ProtocolViolation> seen_;
};

// The plugin end, driven by a test script on its own thread.
class ScriptedPlugin {
 public:
  explicit ScriptedPlugin(UniqueFd fd) : ch_(std::move(fd), Loose()) {}
  static SeqpacketChannel::Options Loose() {
    SeqpacketChannel::Options o;
    o.max_datagram_bytes = 1 << 20;
    o.max_fds = 64;
    return o;
  }
  absl::Status Send(const Envelope& e, std::vector<int> fds = {}) {
    return ch_.Send(e.SerializeAsString(), fds);
  }
  absl::StatusOr<Envelope> Next() {
    auto dg = ch_.Receive(absl::Now() + absl::Seconds(10));
    if (!dg.ok()) return dg.status();
    Envelope e;
    if (!e.ParseFromString(dg->bytes)) return absl::InternalError("host sent garbage");
    return e;
  }
  static Envelope Hello(uint32_t min = 1, uint32_t max = 1) {
    Envelope e;
    e.mutable_hello()->mutable_protocol()->set_min(min);
    e.mutable_hello()->mutable_protocol()->set_max(max);
    e.mutable_hello()->set_name("scripted");
    e.mutable_hello()->set_version("0.0.1");
    e.mutable_hello()->add_methods("m");
    return e;
  }
  // Hello → Welcome → Ready.
  void Handshake() {
    ASSERT_TRUE(Send(Hello()).ok());
    auto w = Next();
    ASSERT_TRUE(w.ok() && w->has_welcome());
    Envelope ready;
    ready.mutable_ready();
    ASSERT_TRUE(Send(ready).ok());
  }
  SeqpacketChannel& channel() { return ch_; }

 private:
  SeqpacketChannel ch_;
};

class PluginSessionTest : public ::testing::Test {
 protected:
  void Start(std::function<void(ScriptedPlugin&)> script,
             std::function<void(PluginSession::Options&)> tweak = nullptr) {
    auto fds = SeqpacketChannel::SocketPair();
    ASSERT_TRUE(fds.ok());
    PluginSession::Options o;
    o.plugin_label = "plugin scripted";
    o.on_violation = violations_.Callback();
    if (tweak) tweak(o);
    session_ = std::make_unique<PluginSession>(std::move(fds->first), o);
    peer_ = std::thread([script, fd = fds->second.release()]() mutable {
      ScriptedPlugin p{UniqueFd(fd)};
      script(p);
    });
  }
  absl::StatusOr<PluginInfo> Handshake(absl::Duration timeout = absl::Seconds(5)) {
    HandshakeParams params;
    params.timeout = timeout;
    return session_->Handshake(params);
  }
  void TearDown() override {
    session_.reset();  // closes our end, so a blocked peer unblocks
    if (peer_.joinable()) peer_.join();
  }

  ViolationLog violations_;
  std::unique_ptr<PluginSession> session_;
  std::thread peer_;
};

TEST_F(PluginSessionTest, HandshakeAndCall) {
  Start([](ScriptedPlugin& p) {
    p.Handshake();
    auto req = p.Next();
    ASSERT_TRUE(req.ok() && req->has_call_request());
    Envelope res;
    res.mutable_call_result()->set_id(req->call_request().id());
    res.mutable_call_result()->mutable_payload()->set_inline_(
        "re:" + req->call_request().payload().inline_());
    ASSERT_TRUE(p.Send(res).ok());
    p.Next().IgnoreError();  // wait for the host to go away
  });
  auto info = Handshake();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name, "scripted");
  EXPECT_EQ(info->protocol_version, 1u);
  auto out = session_->CallBytes("m", "x", absl::Seconds(5));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "re:x");
  EXPECT_EQ(violations_.count(), 0u);
}

TEST_F(PluginSessionTest, HandshakeTimeout) {
  Start([](ScriptedPlugin& p) { p.Next().IgnoreError(); });  // never says hello
  auto info = Handshake(absl::Milliseconds(100));
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(info.status()));
  EXPECT_NE(std::string(info.status().message()).find("plugin scripted"), std::string::npos);
  EXPECT_EQ(violations_.Wait().kind, ViolationKind::kHandshakeTimeout);
  EXPECT_EQ(violations_.Wait().AuditType(), "quota.violation");
}

TEST_F(PluginSessionTest, OutOfOrderFirstMessage) {
  Start([](ScriptedPlugin& p) {
    Envelope e;
    e.mutable_call_result()->set_id(1);
    p.Send(e).IgnoreError();
    p.Next().IgnoreError();
  });
  EXPECT_FALSE(Handshake().ok());
  auto v = violations_.Wait();
  EXPECT_EQ(v.kind, ViolationKind::kUnexpectedMessage);
  EXPECT_EQ(v.AuditType(), "protocol.violation");
}

TEST_F(PluginSessionTest, VersionMismatchIsRejectedWithReason) {
  Envelope reject;
  Start([&reject](ScriptedPlugin& p) {
    ASSERT_TRUE(p.Send(ScriptedPlugin::Hello(7, 9)).ok());
    auto r = p.Next();
    ASSERT_TRUE(r.ok());
    reject = *r;
  });
  auto info = Handshake();
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(info.status())) << info.status();
  EXPECT_NE(std::string(info.status().message()).find("[7, 9]"), std::string::npos);
  peer_.join();
  ASSERT_TRUE(reject.has_reject());
  EXPECT_NE(reject.reject().reason().find("[7, 9]"), std::string::npos);
  EXPECT_EQ(reject.reject().host_protocol().max(), kProtocolVersionMax);
  EXPECT_EQ(violations_.count(), 0u);  // a mismatch is an error, not hostility
}

TEST_F(PluginSessionTest, BadHelloNameIsAViolation) {
  Start([](ScriptedPlugin& p) {
    Envelope h = ScriptedPlugin::Hello();
    h.mutable_hello()->set_name("../../etc");
    p.Send(h).IgnoreError();
    p.Next().IgnoreError();
  });
  EXPECT_FALSE(Handshake().ok());
  EXPECT_EQ(violations_.Wait().kind, ViolationKind::kMalformedEnvelope);
}

// After a good handshake, the plugin answers the first call with `misbehave`.
struct HostileCase {
  const char* name;
  ViolationKind kind;
  std::function<void(ScriptedPlugin&, uint64_t call_id)> misbehave;
};

class HostilePluginTest : public PluginSessionTest,
                          public ::testing::WithParamInterface<HostileCase> {};

TEST_P(HostilePluginTest, ViolationFailsCallAndSession) {
  const HostileCase& c = GetParam();
  Start(
      [c](ScriptedPlugin& p) {
        p.Handshake();
        auto req = p.Next();
        ASSERT_TRUE(req.ok() && req->has_call_request());
        c.misbehave(p, req->call_request().id());
        // Stay connected until the host closes: the violation, not EOF, must end the call.
        while (p.Next().ok()) {
        }
      },
      [](PluginSession::Options& o) {
        o.channel.max_datagram_bytes = 4096;
        o.unsolicited_burst = 50;
        o.max_unsolicited_per_second = 10;
      });
  ASSERT_TRUE(Handshake().ok());
  auto out = session_->CallBytes(
      "m", "x", absl::Seconds(c.kind == ViolationKind::kCallDeadlineExceeded ? 0.2 : 10));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(std::string(out.status().message()).find("plugin scripted"), std::string::npos)
      << out.status();
  auto v = violations_.Wait();
  EXPECT_EQ(v.kind, c.kind) << v.detail;
  EXPECT_NE(v.detail.find("plugin scripted"), std::string::npos) << v.detail;
  // The session stays failed: later calls are refused at once with the same reason.
  auto again = session_->CallBytes("m", "x", absl::Seconds(10));
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(violations_.count(), 1u);
}

UniqueFd UnsealedMemfd(absl::string_view contents) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, "x", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
  EXPECT_EQ(::write(fd.get(), contents.data(), contents.size()),
            static_cast<ssize_t>(contents.size()));
  return fd;
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, HostilePluginTest,
    ::testing::Values(
        HostileCase{"oversized", ViolationKind::kOversizedDatagram,
                    [](ScriptedPlugin& p, uint64_t) {
                      ASSERT_TRUE(p.channel().Send(std::string(8192, 'A')).ok());
                    }},
        HostileCase{"malformed", ViolationKind::kMalformedEnvelope,
                    [](ScriptedPlugin& p, uint64_t) {
                      ASSERT_TRUE(p.channel().Send("\x0a\xff\xff\xff\xff\x0f garbage").ok());
                    }},
        HostileCase{"unknown_message", ViolationKind::kUnknownMessage,
                    [](ScriptedPlugin& p, uint64_t) {
                      ASSERT_TRUE(p.channel().Send(std::string("\x9a\x06\x00", 3)).ok());
                    }},
        HostileCase{
            "out_of_order", ViolationKind::kUnexpectedMessage,
            [](ScriptedPlugin& p, uint64_t) { ASSERT_TRUE(p.Send(ScriptedPlugin::Hello()).ok()); }},
        HostileCase{"unknown_id", ViolationKind::kUnknownCallId,
                    [](ScriptedPlugin& p, uint64_t id) {
                      Envelope e;
                      e.mutable_call_result()->set_id(id + 1000);
                      ASSERT_TRUE(p.Send(e).ok());
                    }},
        HostileCase{"flood", ViolationKind::kMessageFlood,
                    [](ScriptedPlugin& p, uint64_t) {
                      Envelope e;
                      // Bounded: far over the burst of 50, stops once the host hangs up.
                      for (int i = 0; i < 100000; ++i) {
                        e.mutable_heartbeat()->set_seq(i);
                        if (!p.Send(e).ok()) break;
                      }
                    }},
        HostileCase{"fd_flood", ViolationKind::kTruncatedControlData,
                    [](ScriptedPlugin& p, uint64_t id) {
                      std::vector<int> fds(20, 0);  // stdin, 20 times
                      Envelope e;
                      e.mutable_call_result()->set_id(id);
                      ASSERT_TRUE(p.Send(e, fds).ok());
                    }},
        HostileCase{"unsealed_memfd", ViolationKind::kBadPayload,
                    [](ScriptedPlugin& p, uint64_t id) {
                      UniqueFd fd = UnsealedMemfd("mutable");
                      Envelope e;
                      e.mutable_call_result()->set_id(id);
                      e.mutable_call_result()->mutable_payload()->mutable_memfd()->set_size(7);
                      ASSERT_TRUE(p.Send(e, {fd.get()}).ok());
                    }},
        HostileCase{"memfd_index_out_of_range", ViolationKind::kBadPayload,
                    [](ScriptedPlugin& p, uint64_t id) {
                      Envelope e;
                      e.mutable_call_result()->set_id(id);
                      e.mutable_call_result()->mutable_payload()->mutable_memfd()->set_fd_index(3);
                      ASSERT_TRUE(p.Send(e).ok());
                    }},
        HostileCase{"never_answers", ViolationKind::kCallDeadlineExceeded,
                    [](ScriptedPlugin&, uint64_t) {}}),
    [](const ::testing::TestParamInfo<HostileCase>& info) { return std::string(info.param.name); });

TEST_F(PluginSessionTest, StructuredErrorKeepsSessionHealthy) {
  Start([](ScriptedPlugin& p) {
    p.Handshake();
    for (int i = 0; i < 2; ++i) {
      auto req = p.Next();
      ASSERT_TRUE(req.ok());
      Envelope res;
      res.mutable_call_result()->set_id(req->call_request().id());
      if (i == 0) {
        res.mutable_call_result()->mutable_error()->set_code(5);  // NOT_FOUND
        res.mutable_call_result()->mutable_error()->set_message("no such key");
      } else {
        res.mutable_call_result()->mutable_error()->set_code(0);  // "OK" error: not allowed
      }
      ASSERT_TRUE(p.Send(res).ok());
    }
    p.Next().IgnoreError();
  });
  ASSERT_TRUE(Handshake().ok());
  auto out = session_->CallBytes("m", "k", absl::Seconds(5));
  ASSERT_TRUE(absl::IsNotFound(out.status())) << out.status();
  EXPECT_NE(std::string(out.status().message()).find("no such key"), std::string::npos);
  auto out2 = session_->CallBytes("m", "k", absl::Seconds(5));
  EXPECT_TRUE(absl::IsUnknown(out2.status())) << out2.status();
  EXPECT_TRUE(session_->status().ok());
  EXPECT_EQ(violations_.count(), 0u);
}

TEST_F(PluginSessionTest, WithoutABrokerRequestsAreRefusedAndLogsAreNotAnswered) {
  std::atomic<uint64_t> first_answer_id{~uint64_t{0}};
  std::atomic<int32_t> first_answer_code{-1};
  Start([&](ScriptedPlugin& p) {
    p.Handshake();
    auto req = p.Next();
    ASSERT_TRUE(req.ok() && req->has_call_request());
    // A structured log (id 0: fire-and-forget), then a request that wants an answer.
    Envelope log;
    log.mutable_broker_request()->set_id(0);
    log.mutable_broker_request()->mutable_log()->set_message("note");
    ASSERT_TRUE(p.Send(log).ok());
    Envelope open;
    open.mutable_broker_request()->set_id(7);
    open.mutable_broker_request()->mutable_open_file()->set_path("/data/x");
    ASSERT_TRUE(p.Send(open).ok());
    // The host handles them in order: had it answered the log, that answer would come first.
    auto answer = p.Next();
    ASSERT_TRUE(answer.ok() && answer->has_broker_response());
    first_answer_id = answer->broker_response().id();
    first_answer_code = answer->broker_response().error().code();
    Envelope res;
    res.mutable_call_result()->set_id(req->call_request().id());
    res.mutable_call_result()->mutable_payload()->set_inline_("done");
    ASSERT_TRUE(p.Send(res).ok());
    p.Next().IgnoreError();
  });
  ASSERT_TRUE(Handshake().ok());
  auto out = session_->CallBytes("m", "k", absl::Seconds(5));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(first_answer_id.load(), 7u);
  EXPECT_EQ(first_answer_code.load(), static_cast<int32_t>(absl::StatusCode::kUnimplemented));
  EXPECT_EQ(violations_.count(), 0u);
}

TEST_F(PluginSessionTest, DisconnectMidCallIsUnavailable) {
  Start([](ScriptedPlugin& p) {
    p.Handshake();
    p.Next().IgnoreError();
    p.channel().Close();
  });
  ASSERT_TRUE(Handshake().ok());
  auto out = session_->CallBytes("m", "x", absl::Seconds(10));
  EXPECT_TRUE(absl::IsUnavailable(out.status())) << out.status();
  EXPECT_NE(std::string(out.status().message()).find("crashed"), std::string::npos);
  EXPECT_EQ(violations_.count(), 0u);
}

Envelope Heartbeat(uint64_t seq) {
  Envelope e;
  e.mutable_heartbeat()->set_seq(seq);
  return e;
}

TEST_F(PluginSessionTest, HeartbeatTimeout) {
  Start(
      [](ScriptedPlugin& p) {
        p.Handshake();
        ASSERT_TRUE(p.Send(Heartbeat(1)).ok());  // arms the watchdog
        p.Next().IgnoreError();                  // silent until the host hangs up
      },
      [](PluginSession::Options& o) { o.heartbeat_timeout = absl::Milliseconds(150); });
  ASSERT_TRUE(Handshake().ok());
  EXPECT_EQ(violations_.Wait().kind, ViolationKind::kHeartbeatTimeout);
  // The session failed for good (the violation kind above is the assertion that matters; the
  // status may carry the timeout or the hang-up that followed it).
  EXPECT_FALSE(session_->status().ok());
}

// A caller waiting for its result reads the channel itself: silence must be caught there too,
// long before the call's own deadline.
TEST_F(PluginSessionTest, SilenceDuringACallIsAHeartbeatTimeout) {
  Start(
      [](ScriptedPlugin& p) {
        p.Handshake();
        ASSERT_TRUE(p.Send(Heartbeat(1)).ok());
        p.Next().IgnoreError();  // the call: never answered
        p.Next().IgnoreError();
      },
      [](PluginSession::Options& o) { o.heartbeat_timeout = absl::Milliseconds(200); });
  ASSERT_TRUE(Handshake().ok());
  absl::Time start = absl::Now();
  auto out = session_->CallBytes("m", "x", absl::Seconds(60));
  ASSERT_FALSE(out.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(ViolationKindOf(out.status()), ViolationKind::kHeartbeatTimeout) << out.status();
  EXPECT_EQ(violations_.Wait().kind, ViolationKind::kHeartbeatTimeout);
}

// Heartbeats keep a call alive however long it takes, within its deadline.
TEST_F(PluginSessionTest, HeartbeatsKeepALongCallAlive) {
  Start(
      [](ScriptedPlugin& p) {
        p.Handshake();
        auto req = p.Next();
        ASSERT_TRUE(req.ok() && req->has_call_request());
        // Three watchdog periods of work, a beat every fifth of a period.
        for (uint64_t i = 1; i <= 15; ++i) {
          absl::SleepFor(absl::Milliseconds(60));
          ASSERT_TRUE(p.Send(Heartbeat(i)).ok());
        }
        Envelope res;
        res.mutable_call_result()->set_id(req->call_request().id());
        ASSERT_TRUE(p.Send(res).ok());
        p.Next().IgnoreError();
      },
      [](PluginSession::Options& o) { o.heartbeat_timeout = absl::Milliseconds(300); });
  ASSERT_TRUE(Handshake().ok());
  auto out = session_->CallBytes("m", "", absl::Seconds(30));
  EXPECT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(violations_.count(), 0u);
}

// The watchdog starts with the first heartbeat: a plugin that sends none (a single-threaded
// SDK cannot) is bounded by its call deadlines only.
TEST_F(PluginSessionTest, NoHeartbeatNoWatchdog) {
  Start(
      [](ScriptedPlugin& p) {
        p.Handshake();
        auto req = p.Next();
        ASSERT_TRUE(req.ok() && req->has_call_request());
        absl::SleepFor(absl::Milliseconds(500));  // five watchdog periods of silent work
        Envelope res;
        res.mutable_call_result()->set_id(req->call_request().id());
        ASSERT_TRUE(p.Send(res).ok());
        p.Next().IgnoreError();
      },
      [](PluginSession::Options& o) { o.heartbeat_timeout = absl::Milliseconds(100); });
  ASSERT_TRUE(Handshake().ok());
  auto out = session_->CallBytes("m", "", absl::Seconds(30));
  EXPECT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(violations_.count(), 0u);
}

// With a manifest range, the version is chosen within host ∩ manifest ∩ Hello.
TEST_F(PluginSessionTest, ManifestRangeBoundsTheNegotiation) {
  Start([](ScriptedPlugin& p) {
    ASSERT_TRUE(p.Send(ScriptedPlugin::Hello(1, 3)).ok());
    auto w = p.Next();
    ASSERT_TRUE(w.ok() && w->has_welcome());
    EXPECT_EQ(w->welcome().protocol_version(), 2u);
    Envelope ready;
    ready.mutable_ready();
    ASSERT_TRUE(p.Send(ready).ok());
    p.Next().IgnoreError();
  });
  HandshakeParams params;
  params.host_versions = {1, 3};
  params.manifest_versions = VersionSpan{1, 2};
  auto info = session_->Handshake(params);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->protocol_version, 2u);
}

TEST_F(PluginSessionTest, HelloOutsideTheManifestRangeIsRejectedNamingAllRanges) {
  std::string reason;
  Start([&reason](ScriptedPlugin& p) {
    ASSERT_TRUE(p.Send(ScriptedPlugin::Hello(3, 3)).ok());
    auto r = p.Next();
    ASSERT_TRUE(r.ok() && r->has_reject());
    reason = r->reject().reason();
  });
  HandshakeParams params;
  params.host_versions = {1, 3};
  params.manifest_versions = VersionSpan{1, 2};
  auto info = session_->Handshake(params);
  ASSERT_FALSE(info.ok());
  std::string message(info.status().message());
  EXPECT_NE(message.find("Hello announces [3, 3], its manifest declares [1, 2] and the host "
                         "speaks [1, 3]"),
            std::string::npos)
      << message;
  peer_.join();
  EXPECT_NE(reason.find("manifest declares [1, 2]"), std::string::npos) << reason;
}

}  // namespace
}  // namespace cordon::ipc
