#ifndef CORDON_SDK_CPP_FORKED_PLUGIN_TESTING_H_
#define CORDON_SDK_CPP_FORKED_PLUGIN_TESTING_H_

// Test helpers (header-only): a plugin in a forked child process (the C++ SDK, or a
// hand-written one), driven by a PluginSession in the test.

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
#include "ipc/envelope_codec.h"
#include "ipc/plugin_session.h"
#include "ipc/protocol_violation.h"
#include "ipc/seqpacket_channel.h"
#include "sdk/cpp/plugin.h"

namespace cordon::sdk {

// Runs `child` in a forked process on one end of a socketpair (its return value is the exit
// code) and drives the other end with a PluginSession, recording the violations it reports.
// Forks before the session's reader thread exists, so the child starts single-threaded.
class ForkedPeer {
 public:
  ForkedPeer(const std::function<int(ipc::UniqueFd)>& child,
             ipc::PluginSession::Options session_options) {
    auto fds = ipc::SeqpacketChannel::SocketPair();
    EXPECT_TRUE(fds.ok());
    pid_ = ::fork();
    if (pid_ == 0) {
      fds->first.reset();
      ::_exit(child(std::move(fds->second)));
    }
    fds->second.reset();
    session_options.on_violation = [this](const ipc::ProtocolViolation& v) {
      std::lock_guard<std::mutex> lock(mu_);
      violations_.push_back(v);
    };
    session_ = std::make_unique<ipc::PluginSession>(std::move(fds->first), session_options);
  }
  ForkedPeer(const ForkedPeer&) = delete;
  ForkedPeer& operator=(const ForkedPeer&) = delete;
  ~ForkedPeer() {
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

// A C++ SDK plugin registering its handlers with `setup`; it exits 0 after a clean shutdown,
// 10 + the status code when Serve() fails.
class ForkedSdkPlugin : public ForkedPeer {
 public:
  ForkedSdkPlugin(Plugin::Options options, ipc::PluginSession::Options session_options,
                  std::function<void(Plugin&)> setup)
      : ForkedPeer(
            [options = std::move(options), setup = std::move(setup)](ipc::UniqueFd fd) {
              Plugin plugin(options);
              if (setup) setup(plugin);
              absl::Status s = plugin.ServeFd(fd.release());
              return s.ok() ? 0 : 10 + static_cast<int>(s.code());
            },
            std::move(session_options)) {}
};

// A hand-written plugin: sends `hello`, reads the welcome, sends Ready, runs `after` on its
// channel, then waits for the host to hang up.
class FakePlugin : public ForkedPeer {
 public:
  using Body = std::function<void(ipc::SeqpacketChannel&, ipc::EnvelopeCodec&)>;
  FakePlugin(cordon::v1::Hello hello, Body after)
      : ForkedPeer(
            [hello = std::move(hello), after = std::move(after)](ipc::UniqueFd fd) {
              ipc::SeqpacketChannel ch(std::move(fd), {});
              ipc::EnvelopeCodec codec{ipc::EnvelopeLimits{}};
              cordon::v1::Envelope env;
              *env.mutable_hello() = hello;
              (void)ch.Send(*codec.Encode(env));
              (void)ch.Receive(absl::Now() + absl::Seconds(10));  // welcome
              env.mutable_ready();
              (void)ch.Send(*codec.Encode(env));
              after(ch, codec);
              (void)ch.Receive(absl::Now() + absl::Seconds(10));
              return 0;
            },
            {}) {}
};

// A valid Hello for FakePlugin: plugin "fake" 1.0.0, protocol [1, 1], method "m".
inline cordon::v1::Hello FakeHello() {
  cordon::v1::Hello hello;
  hello.set_name("fake");
  hello.set_version("1.0.0");
  hello.mutable_protocol()->set_min(1);
  hello.mutable_protocol()->set_max(1);
  hello.add_methods("m");
  return hello;
}

}  // namespace cordon::sdk

#endif  // CORDON_SDK_CPP_FORKED_PLUGIN_TESTING_H_
