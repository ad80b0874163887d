// The SDK's data channel ($CORDON_DATA_FD): announced with a Ready before the Hello, served
// with the same handlers as fd 3 (results always inline), and ended alone on bad input.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "cordon/v1/envelope.pb.h"
#include "gtest/gtest.h"
#include "ipc/memfd_payload.h"
#include "ipc/plugin_session.h"
#include "sdk/cpp/plugin.h"

namespace cordon::sdk {
namespace {

using ipc::SeqpacketChannel;

// A forked plugin serving fd 3 (the session here) and a data channel (data() here).
class DataPlugin {
 public:
  DataPlugin() {
    auto main = SeqpacketChannel::SocketPair();
    auto data = SeqpacketChannel::SocketPair();
    EXPECT_TRUE(main.ok() && data.ok());
    pid_ = ::fork();
    if (pid_ == 0) {
      main->first.reset();
      data->first.reset();
      Plugin::Options o;
      o.name = "dataplugin";
      o.version = "1.0.0";
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
      absl::Status s = plugin.ServeFds(main->second.release(), data->second.release());
      ::_exit(s.ok() ? 0 : 10 + static_cast<int>(s.code()));
    }
    main->second.reset();
    data->second.reset();
    session_ =
        std::make_unique<ipc::PluginSession>(std::move(main->first), ipc::PluginSession::Options{});
    data_ = std::make_unique<SeqpacketChannel>(std::move(data->first),
                                               SeqpacketChannel::Options{1 << 20, 0});
  }
  ~DataPlugin() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }
  ipc::PluginSession& session() { return *session_; }
  SeqpacketChannel& data() { return *data_; }
  int Wait() {
    session_.reset();
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // One call on the data channel: the result, or why none came.
  absl::StatusOr<cordon::v1::CallResult> Call(uint64_t id, const std::string& method,
                                              cordon::v1::Payload payload) {
    cordon::v1::Envelope env;
    env.mutable_call_request()->set_id(id);
    env.mutable_call_request()->set_method(method);
    *env.mutable_call_request()->mutable_payload() = std::move(payload);
    if (auto s = data_->Send(env.SerializeAsString()); !s.ok()) return s;
    auto dg = data_->Receive(absl::Now() + absl::Seconds(10));
    if (!dg.ok()) return dg.status();
    cordon::v1::Envelope out;
    if (!out.ParseFromString(dg->bytes) || !out.has_call_result()) {
      return absl::DataLossError("not a call_result");
    }
    EXPECT_TRUE(dg->fds.empty()) << "the data channel carries no fds";
    return out.call_result();
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::unique_ptr<ipc::PluginSession> session_;
  std::unique_ptr<SeqpacketChannel> data_;
};

cordon::v1::Payload Inline(const std::string& bytes) {
  cordon::v1::Payload p;
  p.set_inline_(bytes);
  return p;
}

TEST(PluginDataChannelTest, AnnouncedBeforeHelloAndServedInline) {
  DataPlugin dp;
  ASSERT_TRUE(dp.session().Handshake({}).ok());
  // Queued before the Hello: there without waiting.
  auto ready = dp.data().Receive(absl::InfinitePast());
  ASSERT_TRUE(ready.ok()) << ready.status();
  cordon::v1::Envelope env;
  ASSERT_TRUE(env.ParseFromString(ready->bytes));
  EXPECT_TRUE(env.has_ready());

  // Bigger than fd 3's 64 KiB datagram and 16 KiB inline threshold: inline here.
  const std::string big(100 * 1024, 'q');
  auto echoed = dp.Call(1, "echo", Inline(big));
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_EQ(echoed->id(), 1u);
  EXPECT_EQ(echoed->payload().inline_(), big);
  auto blob = dp.Call(2, "blob", Inline(""));
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(blob->payload().inline_(), "xyz") << "a memfd result travels inline here";
  auto failed = dp.Call(3, "fail", Inline(""));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->error().code(), static_cast<int>(absl::StatusCode::kNotFound));

  // fd 3 is unaffected, and shutdown there ends the plugin (and with it the data channel).
  auto main = dp.session().CallBytes("echo", "main", absl::Seconds(5));
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_EQ(*main, "main");
  EXPECT_TRUE(dp.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(dp.Wait(), 0);
  EXPECT_TRUE(absl::IsUnavailable(dp.data().Receive(absl::Now() + absl::Seconds(5)).status()));
}

TEST(PluginDataChannelTest, MemfdInputEndsOnlyTheDataChannel) {
  DataPlugin dp;
  ASSERT_TRUE(dp.session().Handshake({}).ok());
  ASSERT_TRUE(dp.data().Receive(absl::InfinitePast()).ok());  // the Ready
  cordon::v1::Payload memfd;
  memfd.mutable_memfd()->set_fd_index(0);
  memfd.mutable_memfd()->set_size(3);
  auto bad = dp.Call(1, "echo", memfd);
  EXPECT_TRUE(absl::IsUnavailable(bad.status())) << "data channel must close: " << bad.status();
  auto main = dp.session().CallBytes("echo", "still", absl::Seconds(5));
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_EQ(*main, "still");
  EXPECT_TRUE(dp.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(dp.Wait(), 0);
}

}  // namespace
}  // namespace cordon::sdk
