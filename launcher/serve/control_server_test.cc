#include "launcher/serve/control_server.h"

#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "cordon/v1/envelope.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/serve/testing/control_test_client.h"

namespace cordon::serve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing_util::ConnectTo;
using testing_util::ControlServerTest;
using testing_util::EchoBundle;
using testing_util::ReadFile;
using testing_util::TempDir;
using testing_util::TestClient;
using testing_util::WaitGone;

TEST_F(ControlServerTest, LoadCallListStatsUnload) {
  StartServer();
  TestClient client(server_->socket_path());
  cordon::v1::ControlResponse loaded = client.Load(EchoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  const cordon::v1::ControlPluginInfo& info = loaded.load().plugin();
  EXPECT_EQ(info.name(), "echo");
  EXPECT_EQ(info.version(), "1.0.0");
  EXPECT_EQ(info.state(), "ready");
  EXPECT_EQ(info.owner_uid(), getuid());
  EXPECT_GT(info.host_pid(), 0);

  cordon::v1::ControlResponse called = client.Call(info.plugin_id(), "reverse", "abc");
  ASSERT_FALSE(called.has_error()) << called.error().message();
  EXPECT_EQ(called.call().output().inline_(), "cba");

  cordon::v1::ControlResponse listed = client.List();
  ASSERT_EQ(listed.list().plugins_size(), 1);
  EXPECT_EQ(listed.list().plugins(0).plugin_id(), info.plugin_id());
  EXPECT_EQ(listed.list().plugins(0).state(), "ready");

  cordon::v1::ControlRequest stats;
  stats.mutable_stats()->set_plugin_id(info.plugin_id());
  cordon::v1::ControlResponse st = client.Roundtrip(stats);
  ASSERT_EQ(st.stats().stats_size(), 1);
  EXPECT_EQ(st.stats().stats(0).calls_total(), 1u);
  EXPECT_EQ(st.stats().stats(0).calls_ok(), 1u);
  EXPECT_EQ(st.stats().stats(0).bytes_in(), 3u);

  cordon::v1::ControlRequest unload;
  unload.mutable_unload()->set_plugin_id(info.plugin_id());
  cordon::v1::ControlResponse un = client.Roundtrip(unload);
  ASSERT_FALSE(un.has_error()) << un.error().message();
  EXPECT_EQ(un.unload().state(), "stopped");
  EXPECT_TRUE(WaitGone(info.host_pid()));
  EXPECT_EQ(client.List().list().plugins_size(), 0);
  EXPECT_EQ(client.Call(info.plugin_id(), "reverse", "x").error().code(),
            static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_THAT(AuditText(), HasSubstr("\"control.load\""));
}

// With the audit log failing, no plugin gets loaded (its records cannot be written) and the
// client is told why, even under --audit-on-failure deny (which lets the daemon run on).
TEST_F(ControlServerTest, NoLoadWithoutItsRecord) {
  const std::string full = dir_.path() + "/full";
  ASSERT_EQ(mkdir(full.c_str(), 0700), 0);
  if (mount("cordon-test", full.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") != 0) {
    GTEST_SKIP() << "needs root to mount a tmpfs: " << strerror(errno);
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{full};
  audit::AuditLogOptions aopts;
  aopts.path = full + "/audit.jsonl";
  aopts.on_failure = audit::OnWriteFailure::kDenyRequests;
  aopts.durability = audit::Durability::kSync;
  std::unique_ptr<audit::AuditLog> log = *audit::AuditLog::Open(aopts);
  {
    // Fill what is left, so the next record cannot be written.
    std::ofstream filler(full + "/filler", std::ios::binary);
    std::string block(4096, 'x');
    for (int i = 0; i < 64 && filler.write(block.data(), block.size()); ++i) {
    }
  }
  ControlServerOptions options;
  options.socket_path = dir_.path() + "/control.sock";
  options.audit_log = log.get();
  auto server = ControlServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  TestClient client((*server)->socket_path());
  cordon::v1::ControlResponse loaded = client.Load(EchoBundle());
  ASSERT_TRUE(loaded.has_error());
  EXPECT_THAT(loaded.error().message(), HasSubstr("No space left on device"));
  EXPECT_EQ(client.List().list().plugins_size(), 0);
  EXPECT_EQ((*server)->plugin_count(), 0u);
}

TEST_F(ControlServerTest, RefusedUidIsClosedAndAudited) {
  ControlServerOptions options;
  options.allow_uids = {0};
  StartServer(options);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(10);
    ipc::UniqueFd fd = ConnectTo(server_->socket_path());
    if (fd.get() < 0) _exit(11);
    cordon::v1::ControlRequest r;
    r.set_id(1);
    r.mutable_list();
    std::string bytes = r.SerializeAsString();
    (void)send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    char buf[256];
    // Refused: the daemon closes without a word, so the read sees EOF (or a reset).
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    _exit(n <= 0 ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(server_->refused_count(), 1u);
  std::string audit = AuditText();
  EXPECT_THAT(audit, HasSubstr("\"control.refused\""));
  EXPECT_THAT(audit, HasSubstr("\"peer_uid\":65534"));
}

TEST_F(ControlServerTest, ListedGidAdmitsAnUnlistedUid) {
  ControlServerOptions options;
  options.allow_uids = {0};
  options.allow_gids = {65533};
  StartServer(options);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(65533, 65533, 65533) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      _exit(10);
    }
    TestClient client(server_->socket_path());
    cordon::v1::ControlRequest ping;
    ping.mutable_ping();
    cordon::v1::ControlResponse r = client.Roundtrip(ping);
    _exit(r.ping().peer_uid() == 65534 && r.ping().peer_gid() == 65533 ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(server_->refused_count(), 0u);
}

TEST_F(ControlServerTest, RefusalRecordsAreRateLimited) {
  ControlServerOptions options;
  options.allow_uids = {0};
  options.max_refusal_records_per_second = 2;
  StartServer(options);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(10);
    for (int i = 0; i < 10; ++i) {
      ipc::UniqueFd fd = ConnectTo(server_->socket_path());
      char b;
      if (fd.get() < 0 || recv(fd.get(), &b, 1, 0) > 0) _exit(11);  // wait for the close
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(server_->refused_count(), 10u);
  std::string audit = AuditText();
  size_t records = 0;
  for (size_t pos = 0; (pos = audit.find("\"control.refused\"", pos)) != std::string::npos; ++pos) {
    ++records;
  }
  // 2 per second: 10 quick attempts leave 2 records, or a few more if a second boundary fell
  // inside the burst; never one per attempt.
  EXPECT_GE(records, 2u);
  EXPECT_LT(records, 10u);
}

TEST_F(ControlServerTest, NonRootClientMayNotNameAProfilePath) {
  ControlServerOptions options;
  options.allow_uids = {0, 65534};
  StartServer(options);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(10);
    TestClient client(server_->socket_path());
    cordon::v1::ControlRequest r;
    r.mutable_load()->set_bundle_dir(EchoBundle());
    r.mutable_load()->set_profile("/tmp/my-permissive-profile.textproto");
    cordon::v1::ControlResponse resp = client.Roundtrip(r);
    _exit(resp.error().code() == static_cast<int>(absl::StatusCode::kPermissionDenied) ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(server_->plugin_count(), 0u);
}

TEST_F(ControlServerTest, AdmittedOtherUidSeesNoneOfOurPlugins) {
  ControlServerOptions options;
  options.allow_uids = {getuid(), 65534};
  StartServer(options);
  TestClient client(server_->socket_path());
  cordon::v1::ControlResponse loaded = client.Load(EchoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  const std::string id = loaded.load().plugin().plugin_id();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(10);
    TestClient other(server_->socket_path());
    if (other.List().list().plugins_size() != 0) _exit(11);
    cordon::v1::ControlResponse r = other.Call(id, "reverse", "x");
    if (r.error().code() != static_cast<int>(absl::StatusCode::kNotFound)) _exit(12);
    cordon::v1::ControlRequest unload;
    unload.mutable_unload()->set_plugin_id(id);
    if (other.Roundtrip(unload).error().code() != static_cast<int>(absl::StatusCode::kNotFound)) {
      _exit(13);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_FALSE(client.Call(id, "reverse", "ok").has_error());
}

TEST_F(ControlServerTest, PluginsDieWithTheirConnection) {
  StartServer();
  TestClient client(server_->socket_path());
  cordon::v1::ControlResponse loaded = client.Load(EchoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  EXPECT_EQ(loaded.load().plugin().lifetime(), cordon::v1::LIFETIME_CONNECTION);
  pid_t pid = loaded.load().plugin().host_pid();
  client.Close();
  EXPECT_TRUE(WaitGone(pid));
  TestClient again(server_->socket_path());
  EXPECT_EQ(again.List().list().plugins_size(), 0);
}

TEST_F(ControlServerTest, PluginsOutliveClientsWhenConfigured) {
  ControlServerOptions options;
  options.plugins_outlive_clients = true;
  StartServer(options);
  std::string id;
  pid_t pid;
  {
    TestClient client(server_->socket_path());
    cordon::v1::ControlResponse loaded = client.Load(EchoBundle());
    ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
    EXPECT_EQ(loaded.load().plugin().lifetime(), cordon::v1::LIFETIME_DAEMON);
    id = loaded.load().plugin().plugin_id();
    pid = loaded.load().plugin().host_pid();
    // A plugin asking for connection lifetime still dies with this connection.
    cordon::v1::ControlResponse short_lived =
        client.Load(EchoBundle(), cordon::v1::LIFETIME_CONNECTION);
    ASSERT_FALSE(short_lived.has_error());
    client.Close();
    EXPECT_TRUE(WaitGone(short_lived.load().plugin().host_pid()));
  }
  TestClient again(server_->socket_path());
  cordon::v1::ControlResponse listed = again.List();
  ASSERT_EQ(listed.list().plugins_size(), 1);
  EXPECT_EQ(listed.list().plugins(0).plugin_id(), id);
  EXPECT_EQ(again.Call(id, "echo", "still here").call().output().inline_(), "still here");
  server_->Stop();
  EXPECT_TRUE(WaitGone(pid)) << "Stop() must unload outliving plugins";
}

TEST_F(ControlServerTest, TimeoutIsASandboxErrorAndCounted) {
  StartServer();
  TestClient client(server_->socket_path());
  // The misbehaving test plugin's "hang" never answers.
  fs::path bundle = fs::path(dir_.path()) / "hang";
  fs::create_directories(bundle);
  fs::copy_file(MISBEHAVING_PLUGIN_PATH, bundle / "plugin");
  std::ofstream(bundle / "manifest.textproto")
      << "name: \"misbehaving\"\nversion: \"0.1.0\"\nentry: \"plugin\"\n"
      << "protocol { min: 1 max: 1 }\nlimits { call_timeout_ms: 5000 }\n";
  chmod(dir_.path().c_str(), 0755);
  cordon::v1::ControlResponse loaded = client.Load(bundle.string());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  const std::string id = loaded.load().plugin().plugin_id();
  cordon::v1::ControlResponse r = client.Call(id, "hang", "", 200);
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded))
      << r.error().message();
  EXPECT_EQ(r.error_source(), cordon::v1::ERROR_SOURCE_SANDBOX);
  cordon::v1::ControlRequest stats;
  stats.mutable_stats();
  cordon::v1::ControlResponse st = client.Roundtrip(stats);
  ASSERT_EQ(st.stats().stats_size(), 1);
  EXPECT_EQ(st.stats().stats(0).calls_timed_out(), 1u);
  EXPECT_TRUE(WaitGone(loaded.load().plugin().host_pid())) << "a timed-out plugin is killed";
}

TEST_F(ControlServerTest, OpenChannelCarriesCallsAndDiesWithUnload) {
  StartServer();
  ipc::SeqpacketChannel control(ConnectTo(server_->socket_path()),
                                ipc::SeqpacketChannel::Options{kMaxControlDatagram, 1});
  TestClient loader(server_->socket_path());
  cordon::v1::ControlResponse loaded = loader.Load(EchoBundle());
  ASSERT_FALSE(loaded.has_error()) << loaded.error().message();
  const std::string id = loaded.load().plugin().plugin_id();

  // Not through TestClient: the response carries the channel fd.
  cordon::v1::ControlRequest open;
  open.set_id(7);
  open.mutable_open_channel()->set_plugin_id(id);
  ASSERT_TRUE(control.Send(open.SerializeAsString()).ok());
  auto dg = control.Receive(absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(dg.ok()) << dg.status();
  cordon::v1::ControlResponse r;
  ASSERT_TRUE(r.ParseFromString(dg->bytes));
  ASSERT_FALSE(r.has_error()) << r.error().message();
  ASSERT_EQ(dg->fds.size(), 1u);
  ipc::SeqpacketChannel data(std::move(dg->fds[0]),
                             ipc::SeqpacketChannel::Options{kMaxChannelDatagram, 0});

  for (uint64_t call_id : {11u, 12u}) {
    cordon::v1::Envelope call;
    call.mutable_call_request()->set_id(call_id);
    call.mutable_call_request()->set_method("reverse");
    call.mutable_call_request()->mutable_payload()->set_inline_("abc");
    ASSERT_TRUE(data.Send(call.SerializeAsString()).ok());
    auto reply = data.Receive(absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(reply.ok()) << reply.status();
    cordon::v1::Envelope result;
    ASSERT_TRUE(result.ParseFromString(reply->bytes));
    EXPECT_EQ(result.call_result().id(), call_id);
    EXPECT_EQ(result.call_result().payload().inline_(), "cba");
  }
  cordon::v1::ControlRequest stats;
  stats.mutable_stats()->set_plugin_id(id);
  cordon::v1::ControlResponse st = loader.Roundtrip(stats);
  EXPECT_EQ(st.stats().stats(0).calls_ok(), 2u);
  EXPECT_EQ(st.stats().stats(0).direct_channels_opened(), 1u);

  cordon::v1::ControlRequest unload;
  unload.mutable_unload()->set_plugin_id(id);
  ASSERT_FALSE(loader.Roundtrip(unload).has_error());
  auto eof = data.Receive(absl::Now() + absl::Seconds(10));
  EXPECT_TRUE(absl::IsUnavailable(eof.status()))
      << "channel must close with the plugin: " << eof.status();
}

TEST_F(ControlServerTest, MalformedRequestClosesOnlyThatConnection) {
  StartServer();
  ipc::UniqueFd fd = ConnectTo(server_->socket_path());
  ASSERT_GE(fd.get(), 0);
  const char junk[] = "\xff\xff\xff\xff not a protobuf";
  ASSERT_GT(send(fd.get(), junk, sizeof(junk), MSG_NOSIGNAL), 0);
  char buf[4096];
  ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  cordon::v1::ControlResponse r;
  ASSERT_TRUE(r.ParseFromArray(buf, static_cast<int>(n)));
  EXPECT_EQ(r.error().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(recv(fd.get(), buf, sizeof(buf), 0), 0) << "daemon must close after junk";
  TestClient good(server_->socket_path());
  cordon::v1::ControlRequest ping;
  ping.mutable_ping();
  EXPECT_EQ(good.Roundtrip(ping).ping().peer_uid(), getuid());
}

TEST_F(ControlServerTest, RefusesToReplaceANonSocketFile) {
  std::string path = dir_.path() + "/not-a-socket";
  std::ofstream(path) << "keep me";
  ControlServerOptions options;
  options.socket_path = path;
  auto server = ControlServer::Start(options);
  EXPECT_FALSE(server.ok());
  EXPECT_EQ(ReadFile(path), "keep me");
}

// Statuses from plugins, bundles and the host hold whatever bytes their authors put in them;
// the error answer must still decode in a client (proto3 strings must be UTF-8, and the Go
// SDK refuses a response that is not) and fit one datagram.
TEST(ControlServerErrorTest, ErrorAnswersAlwaysDecodeAndFit) {
  absl::Status s = absl::InternalError("bundle '\xff\xfe' unreadable " + std::string(100000, 'm'));
  s.SetPayload("cordon.dev/raw\xc3", absl::Cord(std::string("\x80\x81\xff", 3)));
  s.SetPayload("cordon.dev/text", absl::Cord("plain"));
  for (int i = 0; i < 40; ++i) {
    s.SetPayload(absl::StrCat("cordon.dev/big", i), absl::Cord(std::string(100000, 'x')));
  }
  cordon::v1::ControlResponse r = ControlServer::ErrorResponse(s, cordon::v1::ERROR_SOURCE_PLUGIN);
  EXPECT_EQ(r.error_source(), cordon::v1::ERROR_SOURCE_PLUGIN);
  EXPECT_EQ(r.error().code(), static_cast<int>(absl::StatusCode::kInternal));
  // Bytes outside UTF-8 shown as \xNN; the message cut (compared short, to keep failures
  // readable).
  EXPECT_EQ(r.error().message().substr(0, 28), "bundle '\\xff\\xfe' unreadable");
  EXPECT_LT(r.error().message().size(), 10000u);
  std::string bytes;
  ASSERT_TRUE(r.SerializeToString(&bytes));
  EXPECT_LE(bytes.size(), kMaxControlDatagram / 16);
  cordon::v1::ControlResponse decoded;
  ASSERT_TRUE(decoded.ParseFromString(bytes)) << "a client could not decode this error";
  EXPECT_EQ(decoded.error().details_size(), 17);  // 16 payloads and the count of the rest
  EXPECT_EQ(decoded.error().details().at("cordon.details_dropped"), "26");
  // Never OK, even for an OK status passed by mistake.
  EXPECT_NE(ControlServer::ErrorResponse(absl::OkStatus()).error().code(), 0);
}

}  // namespace
}  // namespace cordon::serve
