// Helpers for the ControlServer tests: a temp dir, a minimal control client, a fixture that
// starts a server with an audit log.
#ifndef CORDON_LAUNCHER_SERVE_TESTING_CONTROL_TEST_CLIENT_H_
#define CORDON_LAUNCHER_SERVE_TESTING_CONTROL_TEST_CLIENT_H_

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "audit/audit_log.h"
#include "gtest/gtest.h"
#include "ipc/seqpacket_channel.h"
#include "ipc/unique_fd.h"
#include "launcher/serve/control_server.h"

namespace cordon::serve::testing_util {

namespace fs = std::filesystem;

inline std::string EchoBundle() { return absl::StrCat(CORDON_EXAMPLES_DIR, "/echo_plugin"); }

// A temp dir other users can traverse, so a child that drops to nobody reaches the socket.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cordon-serve-test-XXXXXX";
    path_ = mkdtemp(tmpl);
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline ipc::UniqueFd ConnectTo(const std::string& path) {
  ipc::UniqueFd fd(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  return fd;
}

// The smallest possible control client: one request, wait for its response.
class TestClient {
 public:
  explicit TestClient(const std::string& path)
      : channel_(ConnectTo(path), ipc::SeqpacketChannel::Options{kMaxControlDatagram, 0}) {}

  cordon::v1::ControlResponse Roundtrip(cordon::v1::ControlRequest request) {
    request.set_id(++next_id_);
    cordon::v1::ControlResponse response;
    if (!channel_.Send(request.SerializeAsString()).ok()) {
      response.mutable_error()->set_message("send failed");
      return response;
    }
    auto dg = channel_.Receive(absl::Now() + absl::Seconds(30));
    if (!dg.ok()) {
      response.mutable_error()->set_message(std::string(dg.status().message()));
      return response;
    }
    EXPECT_TRUE(response.ParseFromString(dg->bytes));
    EXPECT_EQ(response.id(), request.id());
    return response;
  }

  cordon::v1::ControlResponse Load(const std::string& bundle, cordon::v1::ControlLifetime lifetime =
                                                                  cordon::v1::LIFETIME_DEFAULT) {
    cordon::v1::ControlRequest r;
    r.mutable_load()->set_bundle_dir(bundle);
    r.mutable_load()->set_lifetime(lifetime);
    return Roundtrip(r);
  }
  cordon::v1::ControlResponse Call(const std::string& id, const std::string& method,
                                   const std::string& input, uint64_t timeout_ms = 0) {
    cordon::v1::ControlRequest r;
    r.mutable_call()->set_plugin_id(id);
    r.mutable_call()->set_method(method);
    r.mutable_call()->mutable_input()->set_inline_(input);
    r.mutable_call()->set_timeout_ms(timeout_ms);
    return Roundtrip(r);
  }
  cordon::v1::ControlResponse List() {
    cordon::v1::ControlRequest r;
    r.mutable_list();
    return Roundtrip(r);
  }
  void Close() { channel_.Close(); }

 private:
  ipc::SeqpacketChannel channel_;
  uint64_t next_id_ = 0;
};

// Waits (on a pidfd, no sleeping) until pid has exited; true when it has within 10 s.
inline bool WaitGone(pid_t pid) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  int n = poll(&p, 1, 10000);
  close(fd);
  return n == 1;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ControlServerTest : public ::testing::Test {
 protected:
  void StartServer(ControlServerOptions options = {}) {
    options.socket_path = dir_.path() + "/control.sock";
    audit::AuditLogOptions aopts;
    aopts.path = dir_.path() + "/audit.jsonl";
    audit_ = *audit::AuditLog::Open(aopts);
    options.audit_log = audit_.get();
    auto server = ControlServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::string AuditText() {
    (void)audit_->Flush();
    return ReadFile(dir_.path() + "/audit.jsonl");
  }

  TempDir dir_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<ControlServer> server_;
};

}  // namespace cordon::serve::testing_util

#endif  // CORDON_LAUNCHER_SERVE_TESTING_CONTROL_TEST_CLIENT_H_
