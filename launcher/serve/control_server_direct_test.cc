// Direct channels: open_channel handing a client a socket the plugin itself serves (a fresh
// data channel per grant), so calls skip the daemon; who may take it, when it is refused, how
// it ends, and that a holder it was taken back from can no longer reach the plugin.
#include <dirent.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "cordon/v1/envelope.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/serve/control_server.h"
#include "launcher/serve/testing/control_test_client.h"

namespace cordon::serve {
namespace {

using ::testing::HasSubstr;
using testing_util::ConnectTo;
using testing_util::ControlServerTest;
using testing_util::TestClient;
using testing_util::WaitGone;

std::string DemoBundle() { return DEMO_PLUGIN_DIR; }

int OpenFdCount() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

cordon::v1::ControlResponse LoadDirect(TestClient& client, const std::string& bundle,
                                       bool direct = true) {
  cordon::v1::ControlRequest r;
  r.mutable_load()->set_bundle_dir(bundle);
  r.mutable_load()->set_lifetime(cordon::v1::LIFETIME_DAEMON);
  r.mutable_load()->set_direct_channel(direct);
  return client.Roundtrip(r);
}

// A control connection that can receive the channel fd of an open_channel response.
class FdClient {
 public:
  explicit FdClient(const std::string& path)
      : control_(ConnectTo(path), ipc::SeqpacketChannel::Options{kMaxControlDatagram, 1}) {}

  // The response, and the fd it carried (invalid when none).
  std::pair<cordon::v1::ControlResponse, ipc::UniqueFd> Open(const std::string& plugin_id) {
    cordon::v1::ControlRequest open;
    open.set_id(++next_id_);
    open.mutable_open_channel()->set_plugin_id(plugin_id);
    cordon::v1::ControlResponse r;
    if (!control_.Send(open.SerializeAsString()).ok()) {
      r.mutable_error()->set_message("send failed");
      return {r, ipc::UniqueFd()};
    }
    auto dg = control_.Receive(absl::Now() + absl::Seconds(10));
    if (!dg.ok()) {
      r.mutable_error()->set_message(std::string(dg.status().message()));
      return {r, ipc::UniqueFd()};
    }
    EXPECT_TRUE(r.ParseFromString(dg->bytes));
    ipc::UniqueFd fd;
    if (!dg->fds.empty()) fd = std::move(dg->fds[0]);
    return {r, std::move(fd)};
  }
  void Close() { control_.Close(); }

 private:
  ipc::SeqpacketChannel control_;
  uint64_t next_id_ = 0;
};

// One call on a data channel; the result envelope, or the receive error.
absl::StatusOr<cordon::v1::Envelope> CallOn(ipc::SeqpacketChannel& data, uint64_t id,
                                            const std::string& method, const std::string& input) {
  cordon::v1::Envelope call;
  call.mutable_call_request()->set_id(id);
  call.mutable_call_request()->set_method(method);
  call.mutable_call_request()->mutable_payload()->set_inline_(input);
  if (absl::Status s = data.Send(call.SerializeAsString()); !s.ok()) return s;
  auto reply = data.Receive(absl::Now() + absl::Seconds(20));
  if (!reply.ok()) return reply.status();
  cordon::v1::Envelope result;
  if (!result.ParseFromString(reply->bytes)) return absl::DataLossError("unparsable result");
  return result;
}

ipc::SeqpacketChannel DataChannel(ipc::UniqueFd fd) {
  return ipc::SeqpacketChannel(std::move(fd),
                               ipc::SeqpacketChannel::Options{kMaxChannelDatagram, 0});
}

TEST_F(ControlServerTest, DirectChannelCallsBypassTheDaemon) {
  StartServer();
  TestClient loader(server_->socket_path());
  cordon::v1::ControlResponse loaded = LoadDirect(loader, DemoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  EXPECT_TRUE(loaded.load().plugin().direct_channel());
  const std::string id = loaded.load().plugin().plugin_id();

  FdClient holder(server_->socket_path());
  auto [r, fd] = holder.Open(id);
  ASSERT_FALSE(r.has_error()) << r.error().message();
  EXPECT_TRUE(r.open_channel().direct());
  ASSERT_TRUE(fd.valid());
  ipc::SeqpacketChannel data = DataChannel(std::move(fd));
  for (uint64_t call_id : {21u, 22u}) {
    auto result = CallOn(data, call_id, "upper", "abc");
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->call_result().id(), call_id);
    EXPECT_EQ(result->call_result().payload().inline_(), "ABC");
  }
  auto failed = CallOn(data, 23, "fail", "boom");
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_TRUE(failed->call_result().has_error());

  // The daemon did not see those calls; the control path still works beside them.
  cordon::v1::ControlRequest stats;
  stats.mutable_stats()->set_plugin_id(id);
  cordon::v1::ControlResponse st = loader.Roundtrip(stats);
  EXPECT_EQ(st.stats().stats(0).calls_total(), 0u);
  EXPECT_EQ(st.stats().stats(0).direct_channels_opened(), 1u);
  EXPECT_FALSE(loader.Call(id, "upper", "x").has_error());
  EXPECT_THAT(AuditText(), HasSubstr("direct channel handed to the client"));
}

TEST_F(ControlServerTest, DirectChannelIsHeldByOneConnectionAtATime) {
  StartServer();
  TestClient loader(server_->socket_path());
  cordon::v1::ControlResponse loaded = LoadDirect(loader, DemoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  const std::string id = loaded.load().plugin().plugin_id();

  FdClient first(server_->socket_path());
  auto [r1, fd1] = first.Open(id);
  ASSERT_FALSE(r1.has_error()) << r1.error().message();
  ipc::SeqpacketChannel data1 = DataChannel(std::move(fd1));
  ASSERT_TRUE(CallOn(data1, 1, "echo", "first").ok());
  // The holder may ask again: a new grant, and the socket it had is taken back.
  auto [again, fd_again] = first.Open(id);
  EXPECT_FALSE(again.has_error()) << again.error().message();
  ipc::SeqpacketChannel data_again = DataChannel(std::move(fd_again));
  // EOF once the plugin closed its end (Receive waits for it: no sleep), and no answer.
  EXPECT_TRUE(absl::IsUnavailable(data1.Receive(absl::Now() + absl::Seconds(20)).status()));
  EXPECT_FALSE(CallOn(data1, 2, "echo", "stale").ok()) << "a replaced grant reached the plugin";
  auto fresh = CallOn(data_again, 1, "echo", "again");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->call_result().payload().inline_(), "again");
  EXPECT_THAT(AuditText(), HasSubstr("replaced by a new grant"));

  FdClient second(server_->socket_path());
  auto [r2, fd2] = second.Open(id);
  EXPECT_EQ(r2.error().code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(r2.error().message(), HasSubstr("held by another connection"));
  EXPECT_FALSE(fd2.valid());
  EXPECT_THAT(AuditText(), HasSubstr("denied: direct channel held by connection"));

  // Freed when the holder's connection closes. The daemon notices the close on its own
  // thread, so the second client asks until it is granted (each try is a full round trip).
  first.Close();
  bool granted = false;
  for (int i = 0; i < 2000 && !granted; ++i) {
    auto [r, fd] = second.Open(id);
    granted = !r.has_error();
    if (granted) {
      ipc::SeqpacketChannel data = DataChannel(std::move(fd));
      auto result = CallOn(data, 1, "echo", "hi");
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->call_result().payload().inline_(), "hi");
    }
  }
  EXPECT_TRUE(granted) << "the direct channel was not released with its holder";
  EXPECT_THAT(AuditText(), HasSubstr("direct channel released"));
  // The previous holder's process still has its socket, but it is dead: EOF, no answer, so
  // it can neither call the plugin nor read the answers meant for the next holder.
  EXPECT_TRUE(absl::IsUnavailable(data_again.Receive(absl::Now() + absl::Seconds(20)).status()));
  EXPECT_FALSE(CallOn(data_again, 2, "echo", "stale").ok());
}

TEST_F(ControlServerTest, DirectGrantsAreAuditedWithTheirChannelId) {
  StartServer();
  TestClient loader(server_->socket_path());
  cordon::v1::ControlResponse loaded = LoadDirect(loader, DemoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  const std::string id = loaded.load().plugin().plugin_id();
  FdClient holder(server_->socket_path());
  auto [r, fd] = holder.Open(id);
  ASSERT_FALSE(r.has_error()) << r.error().message();
  ipc::SeqpacketChannel data = DataChannel(std::move(fd));
  ASSERT_TRUE(CallOn(data, 1, "echo", "x").ok());

  // Unloading takes the grant back (recorded) before the plugin stops.
  cordon::v1::ControlRequest unload;
  unload.mutable_unload()->set_plugin_id(id);
  cordon::v1::ControlResponse u = loader.Roundtrip(unload);
  ASSERT_FALSE(u.has_error()) << u.error().message();
  EXPECT_TRUE(absl::IsUnavailable(data.Receive(absl::Now() + absl::Seconds(20)).status()));
  const std::string audit = AuditText();
  EXPECT_THAT(audit, HasSubstr("direct channel taken back: plugin unloaded"));
  size_t open_at = audit.find("direct channel handed to the client");
  size_t close_at = audit.find("taken back: plugin unloaded");
  ASSERT_NE(open_at, std::string::npos);
  ASSERT_NE(close_at, std::string::npos);
  // Both records of the grant name the same channel: the first one made in this plugin.
  auto line_of = [&](size_t at) {
    size_t start = audit.rfind('\n', at);
    start = start == std::string::npos ? 0 : start + 1;
    return audit.substr(start, audit.find('\n', at) - start);
  };
  EXPECT_THAT(line_of(open_at), HasSubstr("\"channel_id\":1"));
  EXPECT_THAT(line_of(close_at), HasSubstr("\"channel_id\":1"));
  EXPECT_LT(close_at, audit.find("control.unload"));
}

TEST_F(ControlServerTest, DirectChannelIsOnlyForTheOwner) {
  ControlServerOptions options;
  options.allow_uids = {getuid(), 65534};
  options.share_plugins_between_clients = true;
  StartServer(options);
  TestClient loader(server_->socket_path());
  cordon::v1::ControlResponse loaded = LoadDirect(loader, DemoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  const std::string id = loaded.load().plugin().plugin_id();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(10);
    FdClient other(server_->socket_path());
    auto [r, fd] = other.Open(id);
    if (r.error().code() != static_cast<int>(absl::StatusCode::kPermissionDenied)) _exit(11);
    if (fd.valid()) _exit(12);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_THAT(AuditText(), HasSubstr("denied: direct channel of a plugin owned by uid"));
  // The owner still gets it.
  FdClient owner(server_->socket_path());
  auto [r, fd] = owner.Open(id);
  EXPECT_FALSE(r.has_error()) << r.error().message();
  EXPECT_TRUE(fd.valid());
}

TEST_F(ControlServerTest, DirectChannelRefusedWhenNotAllowed) {
  ControlServerOptions options;
  options.allow_direct_channels = false;
  StartServer(options);
  TestClient loader(server_->socket_path());
  cordon::v1::ControlResponse refused = LoadDirect(loader, DemoBundle());
  EXPECT_EQ(refused.error().code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(refused.error().message(), HasSubstr("--no-direct-channels"));
  EXPECT_THAT(AuditText(), HasSubstr("denied: direct channel"));

  // Without the opt-in, open_channel relays.
  cordon::v1::ControlResponse loaded = LoadDirect(loader, DemoBundle(), /*direct=*/false);
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  EXPECT_FALSE(loaded.load().plugin().direct_channel());
  FdClient client(server_->socket_path());
  auto [r, fd] = client.Open(loaded.load().plugin().plugin_id());
  ASSERT_FALSE(r.has_error()) << r.error().message();
  EXPECT_FALSE(r.open_channel().direct());
  ipc::SeqpacketChannel data = DataChannel(std::move(fd));
  auto result = CallOn(data, 5, "upper", "q");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->call_result().payload().inline_(), "Q");
  cordon::v1::ControlRequest stats;
  stats.mutable_stats()->set_plugin_id(loaded.load().plugin().plugin_id());
  EXPECT_EQ(loader.Roundtrip(stats).stats().stats(0).calls_total(), 1u) << "relayed: counted";
}

TEST_F(ControlServerTest, DirectChannelEndsWhenThePluginDiesAndLeaksNoFd) {
  StartServer();
  TestClient loader(server_->socket_path());
  FdClient holder(server_->socket_path());
  // A round trip first, so the daemon has accepted the connection before the count.
  EXPECT_TRUE(holder.Open("p999").first.has_error());
  const int baseline = OpenFdCount();
  cordon::v1::ControlResponse loaded = LoadDirect(loader, DemoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  const std::string id = loaded.load().plugin().plugin_id();
  const pid_t pid = loaded.load().plugin().host_pid();
  {
    auto [r, fd] = holder.Open(id);
    ASSERT_FALSE(r.has_error()) << r.error().message();
    ipc::SeqpacketChannel data = DataChannel(std::move(fd));
    // The crash ends the channel: the holder reads EOF, not a hang.
    auto crashed = CallOn(data, 9, "crash", "");
    EXPECT_TRUE(absl::IsUnavailable(crashed.status())) << crashed.status();
    EXPECT_TRUE(WaitGone(pid));
  }
  cordon::v1::ControlRequest unload;
  unload.mutable_unload()->set_plugin_id(id);
  (void)loader.Roundtrip(unload);
  EXPECT_EQ(OpenFdCount(), baseline) << "the daemon kept a descriptor of the dead plugin";
}

TEST_F(ControlServerTest, KillEndsAHungDirectCall) {
  StartServer();
  TestClient loader(server_->socket_path());
  cordon::v1::ControlResponse loaded = LoadDirect(loader, DemoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  const std::string id = loaded.load().plugin().plugin_id();
  FdClient holder(server_->socket_path());
  auto [r, fd] = holder.Open(id);
  ASSERT_FALSE(r.has_error()) << r.error().message();
  ipc::SeqpacketChannel data = DataChannel(std::move(fd));
  cordon::v1::Envelope call;
  call.mutable_call_request()->set_id(1);
  call.mutable_call_request()->set_method("hang");
  call.mutable_call_request()->set_timeout_ms(100);
  ASSERT_TRUE(data.Send(call.SerializeAsString()).ok());
  // The daemon does not see the deadline: nothing answers until the client reports it.
  EXPECT_TRUE(
      absl::IsDeadlineExceeded(data.Receive(absl::Now() + absl::Milliseconds(200)).status()));
  cordon::v1::ControlRequest kill;
  kill.mutable_kill()->set_plugin_id(id);
  kill.mutable_kill()->set_reason("call 1 missed its 100 ms deadline");
  cordon::v1::ControlResponse killed = loader.Roundtrip(kill);
  ASSERT_FALSE(killed.has_error()) << killed.error().message();
  EXPECT_EQ(killed.kill().state(), "failed");
  EXPECT_THAT(killed.kill().reason(), HasSubstr("missed its 100 ms deadline"));
  EXPECT_TRUE(absl::IsUnavailable(data.Receive(absl::Now() + absl::Seconds(10)).status()));
  EXPECT_THAT(AuditText(), HasSubstr("control.kill"));
}

}  // namespace
}  // namespace cordon::serve
