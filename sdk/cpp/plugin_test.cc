// The host session (ipc::PluginSession) against the real SDK running in a forked child over a
// socketpair: handshake, calls, large payloads, concurrency, deadlines, crashes, shutdown and
// protocol version negotiation with older, newer and disjoint plugins.
#include "sdk/cpp/plugin.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ipc/memfd_payload.h"
#include "ipc/plugin_session.h"
#include "ipc/utf8_text.h"
#include "sdk/cpp/forked_plugin_testing.h"

namespace cordon::sdk {
namespace {

using ipc::PluginSession;
using ipc::ProtocolViolation;
using ipc::UniqueFd;
using ipc::ViolationKind;

Plugin::Options DefaultOptions() {
  Plugin::Options o;
  o.name = "testplugin";
  o.version = "1.2.3";
  return o;
}

void RegisterStandardHandlers(Plugin& p) {
  p.Register("echo",
             [](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
               return in.ToString();
             });
  p.Register("size",
             [](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
               return std::to_string(in.size()) + (in.is_memfd() ? " memfd" : " inline");
             });
  p.Register("fail", [](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
    return absl::PermissionDeniedError("not allowed");
  });
  p.Register("hang", [](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
    for (;;) ::pause();
  });
  p.Register("log_then_hang",
             [&p](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
               (void)p.Log(cordon::v1::LogMessage::INFO, "hanging now");
               for (;;) ::pause();
             });
  p.Register("read_file",
             [&p](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
               auto fd = p.OpenFile(in.data(), cordon::v1::OpenFileRequest::READ);
               if (!fd.ok()) return fd.status();
               char buf[64];
               ssize_t n = ::read(fd->get(), buf, sizeof(buf));
               if (n < 0) return absl::InternalError("read failed");
               return std::string(buf, static_cast<size_t>(n));
             });
  p.Register("crash", [](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
    ::kill(::getpid(), SIGKILL);
    return absl::InternalError("unreachable");
  });
  p.Register("slow", [](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
    // Longer than the host's heartbeat timeout in the heartbeat test.
    absl::SleepFor(absl::Milliseconds(600));
    return std::string("done");
  });
  p.Register("blob",
             [](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
               size_t n = std::stoul(in.ToString());
               auto m = ipc::MemfdPayload::CreateWritable("blob", n);
               if (!m.ok()) return m.status();
               for (size_t i = 0; i < n; ++i) m->mutable_data()[i] = static_cast<char>(i % 251);
               if (auto fd = m->Seal(); !fd.ok()) return fd.status();
               return ipc::Payload::FromSealedMemfd(std::move(*m));
             });
  p.Register("config",
             [&p](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
               return p.welcome().config() + "|" + p.welcome().config_map().at("k");
             });
  p.Register("host",
             [&p](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
               auto out = p.CallHost("kv.get", in.data(), absl::Milliseconds(1500));
               if (!out.ok()) return out.status();
               return *out;
             });
  p.Register("slog",
             [&p](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
               auto s = p.Log(cordon::v1::LogMessage::WARNING, in.data(), {{"k", "v"}});
               if (!s.ok()) return s;
               return std::string("logged");
             });
  p.Register("log",
             [&p](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
               if (auto s = p.Log(cordon::v1::LogMessage::INFO, in.data()); !s.ok()) return s;
               return std::string("logged");
             });
  p.Register("fail_with",
             [](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
               return absl::InvalidArgumentError(in.ToString());
             });
}

// A plugin process forked from the test with the standard handlers (and `setup`'s).
class ForkedPlugin : public ForkedSdkPlugin {
 public:
  ForkedPlugin(Plugin::Options options, PluginSession::Options session_options,
               std::function<void(Plugin&)> setup = nullptr)
      : ForkedSdkPlugin(std::move(options), Labeled(std::move(session_options)),
                        [setup](Plugin& p) {
                          RegisterStandardHandlers(p);
                          if (setup) setup(p);
                        }) {}

 private:
  static PluginSession::Options Labeled(PluginSession::Options o) {
    o.plugin_label = "plugin testplugin";
    return o;
  }
};

ipc::HandshakeParams Params() {
  ipc::HandshakeParams p;
  p.config = "cfg";
  p.config_map["k"] = "v";
  return p;
}

TEST(PluginSdkTest, HandshakeCallsAndShutdown) {
  ForkedPlugin fp(DefaultOptions(), {});
  auto info = fp.session().Handshake(Params());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name, "testplugin");
  EXPECT_EQ(info->version, "1.2.3");
  EXPECT_EQ(info->protocol_version, ipc::kProtocolVersionMax);
  EXPECT_NE(std::find(info->methods.begin(), info->methods.end(), "echo"), info->methods.end());
  EXPECT_NE(info->sdk.find("cordon-sdk-cpp"), std::string::npos);

  auto echo = fp.session().CallBytes("echo", "hello", absl::Seconds(5));
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_EQ(*echo, "hello");
  auto cfg = fp.session().CallBytes("config", "", absl::Seconds(5));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(*cfg, "cfg|v");

  auto err = fp.session().CallBytes("fail", "", absl::Seconds(5));
  EXPECT_TRUE(absl::IsPermissionDenied(err.status())) << err.status();
  EXPECT_NE(std::string(err.status().message()).find("not allowed"), std::string::npos);
  auto none = fp.session().CallBytes("nope", "", absl::Seconds(5));
  EXPECT_TRUE(absl::IsUnimplemented(none.status())) << none.status();
  EXPECT_TRUE(fp.session().status().ok());

  EXPECT_TRUE(fp.session().Shutdown(absl::Seconds(5)).ok());
  auto after = fp.session().CallBytes("echo", "x", absl::Seconds(5));
  EXPECT_FALSE(after.ok());
  EXPECT_EQ(fp.Wait(), 0);  // Serve() returned OK: a clean exit
  EXPECT_TRUE(fp.violations().empty());
}

TEST(PluginSdkTest, LargePayloadsTravelAsMemfds) {
  ForkedPlugin fp(DefaultOptions(), {});
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  std::string big(1 << 20, 'q');
  auto size = fp.session().CallBytes("size", big, absl::Seconds(5));
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, "1048576 memfd");
  auto small = fp.session().CallBytes("size", "abc", absl::Seconds(5));
  EXPECT_EQ(*small, "3 inline");

  auto blob = fp.session().Call("blob", ipc::Payload(std::to_string(8 << 20)), absl::Seconds(10));
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_TRUE(blob->is_memfd());
  ASSERT_EQ(blob->size(), size_t{8} << 20);
  EXPECT_EQ(blob->data()[1000], static_cast<char>(1000 % 251));
  EXPECT_EQ(blob->data()[(8 << 20) - 1], static_cast<char>(((8 << 20) - 1) % 251));
}

TEST(PluginSdkTest, ResultOverPayloadCapIsAViolation) {
  PluginSession::Options o;
  o.max_payload_bytes = 1 << 20;
  ForkedPlugin fp(DefaultOptions(), o);
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  auto blob = fp.session().Call("blob", ipc::Payload(std::to_string(2 << 20)), absl::Seconds(10));
  ASSERT_FALSE(blob.ok());
  ASSERT_EQ(fp.violations().size(), 1u);
  EXPECT_EQ(fp.violations()[0].kind, ViolationKind::kBadPayload);
}

TEST(PluginSdkTest, ConcurrentCallsFromManyThreads) {
  ForkedPlugin fp(DefaultOptions(), {});
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::string in = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto out = fp.session().CallBytes("echo", in, absl::Seconds(10));
        if (out.ok() && *out == in) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 800);
  EXPECT_TRUE(fp.session().status().ok());
}

TEST(PluginSdkTest, HangingHandlerHitsDeadline) {
  ForkedPlugin fp(DefaultOptions(), {});
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  auto out = fp.session().CallBytes("hang", "", absl::Milliseconds(200));
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(out.status())) << out.status();
  std::string msg(out.status().message());
  EXPECT_NE(msg.find("plugin testplugin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'hang'"), std::string::npos) << msg;
  ASSERT_EQ(fp.violations().size(), 1u);
  EXPECT_EQ(fp.violations()[0].kind, ViolationKind::kCallDeadlineExceeded);
  EXPECT_EQ(fp.violations()[0].AuditType(), "quota.violation");
  fp.Kill();  // what the launcher does on a violation
  EXPECT_EQ(fp.Wait(), 128 + SIGKILL);
}

TEST(PluginSdkTest, DeadlineOfOneCallFailsTheOthersPromptly) {
  std::mutex mu;
  std::condition_variable cv;
  bool hanging = false;
  PluginSession::Options o;
  o.on_log = [&](const cordon::v1::LogMessage&) {
    std::lock_guard<std::mutex> lock(mu);
    hanging = true;
    cv.notify_all();
  };
  ForkedPlugin fp(DefaultOptions(), o);
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  absl::StatusOr<std::string> hang_result;
  std::thread hang(
      [&] { hang_result = fp.session().CallBytes("log_then_hang", "", absl::Milliseconds(500)); });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return hanging; }));
  }
  // The plugin serves calls in order: 'echo' waits behind the hung call. When that call's
  // deadline fails the session, 'echo' must be released at once, not after its own 60 s.
  absl::Time start = absl::Now();
  auto echo = fp.session().CallBytes("echo", "x", absl::Seconds(60));
  hang.join();
  EXPECT_FALSE(echo.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  EXPECT_TRUE(absl::IsDeadlineExceeded(hang_result.status())) << hang_result.status();
  ASSERT_EQ(fp.violations().size(), 1u);
  EXPECT_EQ(fp.violations()[0].kind, ViolationKind::kCallDeadlineExceeded);
}

TEST(PluginSdkTest, CrashMidCall) {
  ForkedPlugin fp(DefaultOptions(), {});
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  auto out = fp.session().CallBytes("crash", "", absl::Seconds(10));
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsUnavailable(out.status())) << out.status();
  EXPECT_NE(std::string(out.status().message()).find("plugin testplugin"), std::string::npos);
  EXPECT_EQ(fp.Wait(), 128 + SIGKILL);
}

TEST(PluginSdkTest, HeartbeatsKeepASlowCallAlive) {
  PluginSession::Options o;
  o.heartbeat_timeout = absl::Milliseconds(200);
  ForkedPlugin fp(DefaultOptions(), o);
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  auto out = fp.session().CallBytes("slow", "", absl::Seconds(5));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(fp.violations().empty());
}

TEST(PluginSdkTest, BrokerOpenFile) {
  PluginSession* session = nullptr;
  PluginSession::Options o;
  o.on_broker_request = [&session](const cordon::v1::BrokerRequest& req, std::vector<UniqueFd>) {
    // A toy broker: grants exactly one path, answered with a pipe holding known bytes.
    cordon::v1::BrokerResponse resp;
    resp.set_id(req.id());
    if (req.open_file().path() != "/granted") {
      resp.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kPermissionDenied));
      resp.mutable_error()->set_message("not granted");
      ASSERT_TRUE(session->SendBrokerResponse(resp).ok());
      return;
    }
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    ASSERT_EQ(::write(p[1], "contents", 8), 8);
    ::close(p[1]);
    resp.mutable_open_file()->set_fd_index(0);
    ASSERT_TRUE(session->SendBrokerResponse(resp, {p[0]}).ok());
    ::close(p[0]);
  };
  ForkedPlugin fp(DefaultOptions(), o);
  session = &fp.session();
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  auto ok = fp.session().CallBytes("read_file", "/granted", absl::Seconds(5));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "contents");
  auto denied = fp.session().CallBytes("read_file", "/etc/shadow", absl::Seconds(5));
  EXPECT_TRUE(absl::IsPermissionDenied(denied.status())) << denied.status();
  EXPECT_TRUE(fp.session().status().ok());
}

TEST(PluginSdkTest, BrokerCallHostAndStructuredLog) {
  PluginSession* session = nullptr;
  std::mutex mu;
  std::vector<cordon::v1::LogRequest> logs;
  PluginSession::Options o;
  o.on_broker_request = [&](const cordon::v1::BrokerRequest& req, std::vector<UniqueFd> fds) {
    cordon::v1::BrokerResponse resp;
    resp.set_id(req.id());
    if (req.has_log()) {
      std::lock_guard<std::mutex> lock(mu);
      logs.push_back(req.log());
      resp.mutable_log();
    } else if (req.has_host_call() && req.host_call().payload().inline_() == "missing") {
      resp.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kNotFound));
      resp.mutable_error()->set_message("no such key");
    } else {
      // Echo the function, the deadline and the input back.
      resp.mutable_host_call()->mutable_payload()->set_inline_(
          req.host_call().function() + "|" + std::to_string(req.host_call().timeout_ms()) + "|" +
          req.host_call().payload().inline_());
    }
    ASSERT_TRUE(session->SendBrokerResponse(resp).ok());
  };
  ForkedPlugin fp(DefaultOptions(), o);
  session = &fp.session();
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  auto ok = fp.session().CallBytes("host", "key1", absl::Seconds(5));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "kv.get|1500|key1");
  auto missing = fp.session().CallBytes("host", "missing", absl::Seconds(5));
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  auto logged = fp.session().CallBytes("slog", "careful", absl::Seconds(5));
  ASSERT_TRUE(logged.ok()) << logged.status();
  // The log request was sent before the result on the same ordered channel.
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].message(), "careful");
  EXPECT_EQ(logs[0].level(), cordon::v1::LogMessage::WARNING);
  EXPECT_EQ(logs[0].fields().at("k"), "v");
  EXPECT_TRUE(fp.session().status().ok());
}

// A host with an 8 KiB datagram cap announces it in Welcome: a 10000-byte host call input must
// then travel as a memfd, not inline (an oversized datagram would be a violation that kills
// the plugin).
TEST(PluginSdkTest, CallHostInputsFollowTheDatagramCapTheHostAnnounced) {
  PluginSession* session = nullptr;
  PluginSession::Options o;
  o.channel.max_datagram_bytes = 8192;
  o.on_broker_request = [&](const cordon::v1::BrokerRequest& req, std::vector<UniqueFd> fds) {
    cordon::v1::BrokerResponse resp;
    resp.set_id(req.id());
    auto in = ipc::Payload::FromProto(req.host_call().payload(), &fds, 1 << 20);
    resp.mutable_host_call()->mutable_payload()->set_inline_(
        in.ok() ? absl::StrCat(req.host_call().payload().has_memfd() ? "memfd " : "inline ",
                               in->size(), " ", in->data() == std::string(10000, 'h'))
                : in.status().ToString());
    ASSERT_TRUE(session->SendBrokerResponse(resp).ok());
  };
  ForkedPlugin fp(DefaultOptions(), o);
  session = &fp.session();
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  auto out = fp.session().CallBytes("host", std::string(10000, 'h'), absl::Seconds(5));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "memfd 10000 1");
  EXPECT_TRUE(fp.session().status().ok());
}

TEST(PluginSdkTest, LogsReachTheHost) {
  PluginSession::Options o;
  std::mutex mu;
  std::vector<std::string> logs;
  o.on_log = [&](const cordon::v1::LogMessage& m) {
    std::lock_guard<std::mutex> lock(mu);
    logs.push_back(m.message());
  };
  ForkedPlugin fp(DefaultOptions(), o);
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  ASSERT_TRUE(fp.session().CallBytes("log", "line one", absl::Seconds(5)).ok());
  // The log was sent before the result on the same ordered channel.
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0], "line one");
}

// 8191 ASCII bytes and then a 2-byte character across the SDK's 8 KiB cut, plus bytes that
// are not UTF-8 at all: what reaches the host must be valid UTF-8 (a proto3 string), or the
// host refuses the message as malformed and kills the plugin.
TEST(PluginSdkTest, LogsAndErrorsAreCutOnUtf8Boundaries) {
  std::mutex mu;
  std::vector<std::string> logs;
  PluginSession::Options o;
  o.on_log = [&](const cordon::v1::LogMessage& m) {
    std::lock_guard<std::mutex> lock(mu);
    logs.push_back(m.message());
  };
  o.on_broker_request = [&](const cordon::v1::BrokerRequest& req, std::vector<UniqueFd>) {
    std::lock_guard<std::mutex> lock(mu);
    logs.push_back(req.log().message());
    for (const auto& [k, v] : req.log().fields()) logs.push_back(k + "=" + v);
  };
  ForkedPlugin fp(DefaultOptions(), o);
  ASSERT_TRUE(fp.session().Handshake(Params()).ok());
  const std::string across = std::string(8191, 'a') + "\xc3\xa9" + std::string(100, 'b');
  ASSERT_TRUE(fp.session().CallBytes("log", across, absl::Seconds(5)).ok());
  ASSERT_TRUE(fp.session().CallBytes("slog", across, absl::Seconds(5)).ok());
  ASSERT_TRUE(fp.session().CallBytes("log", "bad \xff\xfe bytes", absl::Seconds(5)).ok());
  auto failed = fp.session().CallBytes("fail_with", across, absl::Seconds(5));
  EXPECT_TRUE(absl::IsInvalidArgument(failed.status())) << failed.status();
  EXPECT_EQ(std::string(failed.status().message()).find("\xc3"), std::string::npos);
  EXPECT_TRUE(fp.session().status().ok()) << fp.session().status();
  EXPECT_TRUE(fp.violations().empty());
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(logs.size(), 4u);  // line, structured line, its field k=v, the bad bytes
  for (int i : {0, 1}) {
    EXPECT_LE(logs[i].size(), 8192u);
    EXPECT_EQ(logs[i].substr(0, 8000), std::string(8000, 'a'));
    EXPECT_TRUE(ipc::IsValidUtf8(logs[i]));
    EXPECT_NE(logs[i].find("...[cut, 8293 bytes]"), std::string::npos);
  }
  EXPECT_EQ(logs[2], "k=v");
  EXPECT_EQ(logs[3], "bad \\xff\\xfe bytes");
}

TEST(PluginSdkTest, ConfigureHookCanRefuse) {
  ForkedPlugin fp(DefaultOptions(), {}, [](Plugin& p) {
    p.OnConfigure([](const cordon::v1::Welcome& w) {
      return w.config_map().count("required") ? absl::OkStatus()
                                              : absl::InvalidArgumentError("missing 'required'");
    });
  });
  auto info = fp.session().Handshake(Params());
  ASSERT_FALSE(info.ok());
  EXPECT_NE(std::string(info.status().message()).find("missing 'required'"), std::string::npos)
      << info.status();
  EXPECT_EQ(fp.Wait(), 10 + static_cast<int>(absl::StatusCode::kInvalidArgument));
}

// Compatibility: the host speaks [2, 3] in these tests.
struct CompatCase {
  const char* name;
  uint32_t plugin_min, plugin_max;
  int expect_version;  // 0: rejected
};

class CompatTest : public ::testing::TestWithParam<CompatCase> {};

TEST_P(CompatTest, Negotiates) {
  const CompatCase& c = GetParam();
  Plugin::Options po = DefaultOptions();
  po.protocol = {c.plugin_min, c.plugin_max};
  ForkedPlugin fp(po, {});
  ipc::HandshakeParams params = Params();
  params.host_versions = {2, 3};
  auto info = fp.session().Handshake(params);
  if (c.expect_version == 0) {
    ASSERT_FALSE(info.ok());
    std::string msg(info.status().message());
    EXPECT_NE(msg.find("plugin testplugin"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
    // The plugin saw the Reject and its Serve() failed with FailedPrecondition.
    EXPECT_EQ(fp.Wait(), 10 + static_cast<int>(absl::StatusCode::kFailedPrecondition));
    EXPECT_TRUE(fp.violations().empty());
    return;
  }
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->protocol_version, static_cast<uint32_t>(c.expect_version));
  EXPECT_TRUE(fp.session().CallBytes("echo", "v", absl::Seconds(5)).ok());
  EXPECT_TRUE(fp.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(fp.Wait(), 0);
}

INSTANTIATE_TEST_SUITE_P(Versions, CompatTest,
                         ::testing::Values(CompatCase{"older_overlapping", 1, 2, 2},
                                           CompatCase{"newer_overlapping", 3, 5, 3},
                                           CompatCase{"same", 2, 3, 3},
                                           CompatCase{"disjoint_older", 1, 1, 0},
                                           CompatCase{"disjoint_newer", 4, 6, 0}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace cordon::sdk
