#ifndef CORDON_SDK_CPP_FORKED_PLUGIN_TESTING_H_
#define CORDON_SDK_CPP_FORKED_PLUGIN_TESTING_H_

// Test helper (header-only): a C++ SDK plugin in a forked child process, driven by a
// PluginSession in the test.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "ipc/plugin_session.h"
#include "ipc/protocol_violation.h"
#include "ipc/seqpacket_channel.h"
#include "sdk/cpp/plugin.h"

namespace cordon::sdk {

// The child registers its handlers with `setup` and serves one end of a socketpair (exit code
// 0 after a clean shutdown, 10 + status code when Serve() fails); the session drives the other
// end. Forks before the session's reader thread exists, so the child starts single-threaded.
// Violations the session reports are recorded.
class ForkedSdkPlugin {
 public:
  ForkedSdkPlugin(Plugin::Options options, ipc::PluginSession::Options session_options,
                  const std::function<void(Plugin&)>& setup) {
    auto fds = ipc::SeqpacketChannel::SocketPair();
    EXPECT_TRUE(fds.ok());
    pid_ = ::fork();
    if (pid_ == 0) {
      fds->first.reset();
      Plugin plugin(options);
      if (setup) setup(plugin);
      absl::Status s = plugin.ServeFd(fds->second.release());
      ::_exit(s.ok() ? 0 : 10 + static_cast<int>(s.code()));
    }
    fds->second.reset();
    session_options.on_violation = [this](const ipc::ProtocolViolation& v) {
      std::lock_guard<std::mutex> lock(mu_);
      violations_.push_back(v);
    };
    session_ = std::make_unique<ipc::PluginSession>(std::move(fds->first), session_options);
  }
  ForkedSdkPlugin(const ForkedSdkPlugin&) = delete;
  ForkedSdkPlugin& operator=(const ForkedSdkPlugin&) = delete;
  ~ForkedSdkPlugin() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }

  ipc::PluginSession& session() { return *session_; }
  // Closes the session, reaps the child: its exit code, or 128 + signal.
  int Wait() {
    session_.reset();
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void Kill() { ::kill(pid_, SIGKILL); }
  std::vector<ipc::ProtocolViolation> violations() {
    std::lock_guard<std::mutex> lock(mu_);
    return violations_;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::unique_ptr<ipc::PluginSession> session_;
  std::mutex mu_;
  std::vector<ipc::ProtocolViolation> violations_;
};

}  // namespace cordon::sdk

#endif  // CORDON_SDK_CPP_FORKED_PLUGIN_TESTING_H_
