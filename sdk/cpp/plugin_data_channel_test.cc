// The SDK's data channels: offered in the Hello, opened and closed by the host over fd 3
// (DataChannelOpen with the socket, DataChannelClose), served with the same handlers as fd 3
// (results always inline), ended alone on bad input, and closed for good when taken back.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "cordon/v1/envelope.pb.h"
#include "gtest/gtest.h"
#include "ipc/memfd_payload.h"
#include "ipc/plugin_session.h"
#include "ipc/protocol_violation.h"
#include "sdk/cpp/plugin.h"

namespace cordon::sdk {
namespace {

using ipc::SeqpacketChannel;

// A client's end of a data channel: one call at a time.
class Holder {
 public:
  explicit Holder(ipc::UniqueFd fd)
      : channel_(std::move(fd), SeqpacketChannel::Options{1 << 20, 0}) {}
  SeqpacketChannel& channel() { return channel_; }
  // One call: the result, or why none came.
  absl::StatusOr<cordon::v1::CallResult> Call(uint64_t id, const std::string& method,
                                              cordon::v1::Payload payload) {
    cordon::v1::Envelope env;
    env.mutable_call_request()->set_id(id);
    env.mutable_call_request()->set_method(method);
    *env.mutable_call_request()->mutable_payload() = std::move(payload);
    if (auto s = channel_.Send(env.SerializeAsString()); !s.ok()) return s;
    auto dg = channel_.Receive(absl::Now() + absl::Seconds(10));
    if (!dg.ok()) return dg.status();
    cordon::v1::Envelope out;
    if (!out.ParseFromString(dg->bytes) || !out.has_call_result()) {
      return absl::DataLossError("not a call_result");
    }
    EXPECT_TRUE(dg->fds.empty()) << "the data channel carries no fds";
    return out.call_result();
  }

 private:
  SeqpacketChannel channel_;
};

// A forked plugin serving fd 3: through a PluginSession (session()) or, for the violation
// tests, a bare channel (raw()) on which the test plays the host itself.
class DataPlugin {
 public:
  explicit DataPlugin(uint32_t max_data_channels = 4, bool raw = false) {
    auto main = SeqpacketChannel::SocketPair();
    EXPECT_TRUE(main.ok());
    pid_ = ::fork();
    if (pid_ == 0) {
      main->first.reset();
      Plugin::Options o;
      o.name = "dataplugin";
      o.version = "1.0.0";
      o.max_data_channels = max_data_channels;
      Plugin plugin(o);
      plugin.Register(
          "echo", [](const CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
            return in.ToString();
          });
      plugin.Register("fail",
                      [](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
                        return absl::NotFoundError("no such thing");
                      });
      plugin.Register("blob",
                      [](const CallContext&, const ipc::Payload&) -> absl::StatusOr<ipc::Payload> {
                        auto m = ipc::MemfdPayload::CreateWritable("blob", 3);
                        if (!m.ok()) return m.status();
                        memcpy(m->mutable_data().data(), "xyz", 3);
                        if (auto fd = m->Seal(); !fd.ok()) return fd.status();
                        return ipc::Payload::FromSealedMemfd(std::move(*m));
                      });
      absl::Status s = plugin.ServeFd(main->second.release());
      ::_exit(s.ok() ? 0 : 10 + static_cast<int>(s.code()));
    }
    main->second.reset();
    if (raw) {
      raw_ = std::make_unique<SeqpacketChannel>(std::move(main->first));
    } else {
      session_ = std::make_unique<ipc::PluginSession>(std::move(main->first),
                                                      ipc::PluginSession::Options{});
    }
  }
  ~DataPlugin() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }
  ipc::PluginSession& session() { return *session_; }
  SeqpacketChannel& raw() { return *raw_; }
  int Wait() {
    session_.reset();
    raw_.reset();
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // A fresh socketpair: the plugin gets one end as data channel `id`, the caller the other.
  absl::StatusOr<Holder> Open(uint64_t id) {
    auto pair = SeqpacketChannel::SocketPair();
    if (!pair.ok()) return pair.status();
    if (auto s = session_->SendDataChannelOpen(id, pair->second.get()); !s.ok()) return s;
    return Holder(std::move(pair->first));
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::unique_ptr<ipc::PluginSession> session_;
  std::unique_ptr<SeqpacketChannel> raw_;
};

cordon::v1::Payload Inline(const std::string& bytes) {
  cordon::v1::Payload p;
  p.set_inline_(bytes);
  return p;
}

TEST(PluginDataChannelTest, OfferedInHelloAndServedInline) {
  DataPlugin dp;
  ASSERT_TRUE(dp.session().Handshake({}).ok());
  EXPECT_EQ(dp.session().info().max_data_channels, 4u);
  auto holder = dp.Open(1);
  ASSERT_TRUE(holder.ok()) << holder.status();

  // Bigger than fd 3's 64 KiB datagram and 16 KiB inline threshold: inline here.
  const std::string big(100 * 1024, 'q');
  auto echoed = holder->Call(1, "echo", Inline(big));
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_EQ(echoed->id(), 1u);
  EXPECT_EQ(echoed->payload().inline_(), big);
  auto blob = holder->Call(2, "blob", Inline(""));
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(blob->payload().inline_(), "xyz") << "a memfd result travels inline here";
  auto failed = holder->Call(3, "fail", Inline(""));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->error().code(), static_cast<int>(absl::StatusCode::kNotFound));

  // fd 3 is unaffected, and shutdown there ends the plugin (and with it the data channel).
  auto main = dp.session().CallBytes("echo", "main", absl::Seconds(5));
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_EQ(*main, "main");
  EXPECT_TRUE(dp.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(dp.Wait(), 0);
  EXPECT_TRUE(
      absl::IsUnavailable(holder->channel().Receive(absl::Now() + absl::Seconds(5)).status()));
}

TEST(PluginDataChannelTest, MemfdInputEndsOnlyThatDataChannel) {
  DataPlugin dp;
  ASSERT_TRUE(dp.session().Handshake({}).ok());
  auto bad_holder = dp.Open(1);
  auto good_holder = dp.Open(2);
  ASSERT_TRUE(bad_holder.ok() && good_holder.ok());
  cordon::v1::Payload memfd;
  memfd.mutable_memfd()->set_fd_index(0);
  memfd.mutable_memfd()->set_size(3);
  auto bad = bad_holder->Call(1, "echo", memfd);
  EXPECT_TRUE(absl::IsUnavailable(bad.status())) << "data channel must close: " << bad.status();
  auto other = good_holder->Call(1, "echo", Inline("other"));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->payload().inline_(), "other");
  auto main = dp.session().CallBytes("echo", "still", absl::Seconds(5));
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_EQ(*main, "still");
  // The failed channel's slot is freed by the host's close, which is no violation.
  ASSERT_TRUE(dp.session().SendDataChannelClose(1).ok());
  EXPECT_TRUE(dp.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(dp.Wait(), 0);
}

// The review's case: once the host takes a channel back, its holder can no longer reach the
// plugin (EOF, no answer), while the next holder is served.
TEST(PluginDataChannelTest, ClosedChannelIsDeadForItsHolder) {
  DataPlugin dp;
  ASSERT_TRUE(dp.session().Handshake({}).ok());
  auto first = dp.Open(1);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->Call(1, "echo", Inline("a")).ok());
  ASSERT_TRUE(dp.session().SendDataChannelClose(1).ok());
  auto second = dp.Open(2);
  ASSERT_TRUE(second.ok()) << second.status();
  // EOF once the plugin handled the close (no sleep: Receive waits for it).
  EXPECT_TRUE(
      absl::IsUnavailable(first->channel().Receive(absl::Now() + absl::Seconds(10)).status()));
  auto late = first->Call(2, "echo", Inline("after the close"));
  EXPECT_FALSE(late.ok()) << "a revoked holder got an answer";
  auto served = second->Call(1, "echo", Inline("b"));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->payload().inline_(), "b");
  EXPECT_TRUE(dp.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(dp.Wait(), 0);
}

TEST(PluginDataChannelTest, NotOfferedMeansTheHostCannotOpen) {
  DataPlugin dp(/*max_data_channels=*/0);
  ASSERT_TRUE(dp.session().Handshake({}).ok());
  EXPECT_EQ(dp.session().info().max_data_channels, 0u);
  EXPECT_EQ(dp.Open(1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(dp.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(dp.Wait(), 0);
}

// Plays the host on a bare channel: Hello → Welcome → Ready, then sends `open` with `fds`.
// Returns the plugin's exit code.
int ExitAfter(uint32_t max_data_channels, const std::vector<cordon::v1::Envelope>& messages,
              const std::vector<int>& fds_per_message) {
  DataPlugin dp(max_data_channels, /*raw=*/true);
  auto hello = dp.raw().Receive(absl::Now() + absl::Seconds(10));
  EXPECT_TRUE(hello.ok()) << hello.status();
  cordon::v1::Envelope welcome;
  welcome.mutable_welcome()->set_protocol_version(1);
  EXPECT_TRUE(dp.raw().Send(welcome.SerializeAsString()).ok());
  EXPECT_TRUE(dp.raw().Receive(absl::Now() + absl::Seconds(10)).ok());  // Ready
  std::vector<ipc::UniqueFd> keep;
  for (size_t i = 0; i < messages.size(); ++i) {
    std::vector<int> raw;
    for (int n = 0; n < fds_per_message[i]; ++n) {
      auto pair = SeqpacketChannel::SocketPair();
      EXPECT_TRUE(pair.ok());
      raw.push_back(pair->second.get());
      keep.push_back(std::move(pair->first));
      keep.push_back(std::move(pair->second));
    }
    // The plugin may already have quit over an earlier message.
    (void)dp.raw().Send(messages[i].SerializeAsString(), raw);
  }
  // The plugin quits on the violation: its channel reaches EOF with no shutdown request.
  auto eof = dp.raw().Receive(absl::Now() + absl::Seconds(10));
  EXPECT_FALSE(eof.ok()) << "the plugin answered instead of stopping";
  return dp.Wait();
}

cordon::v1::Envelope OpenMsg(uint64_t id) {
  cordon::v1::Envelope e;
  e.mutable_data_channel_open()->set_channel_id(id);
  return e;
}

TEST(PluginDataChannelTest, HostBreakingTheRulesIsAViolation) {
  const int violation =
      10 +
      static_cast<int>(ipc::ViolationStatus(ipc::ViolationKind::kUnexpectedMessage, "").code());
  EXPECT_EQ(ExitAfter(4, {OpenMsg(1)}, {0}), violation) << "open without its fd";
  EXPECT_EQ(ExitAfter(4, {OpenMsg(1)}, {2}), violation) << "open with two fds";
  EXPECT_EQ(ExitAfter(4, {OpenMsg(1), OpenMsg(1)}, {1, 1}), violation) << "a reused id";
  EXPECT_EQ(ExitAfter(1, {OpenMsg(1), OpenMsg(2)}, {1, 1}), violation) << "over the cap";
  EXPECT_EQ(ExitAfter(0, {OpenMsg(1)}, {1}), violation) << "never offered";
  cordon::v1::Envelope close;
  close.mutable_data_channel_close()->set_channel_id(9);
  EXPECT_EQ(ExitAfter(4, {close}, {0}), violation) << "close of a channel never opened";
}

}  // namespace
}  // namespace cordon::sdk
