// Loads the example bundles with ManifestLoader, runs each entry as a real process with the
// channel on fd 3 (as the launcher does, minus the sandbox) and drives it with PluginSession.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "ipc/manifest_loader.h"
#include "ipc/plugin_session.h"

namespace cordon::ipc {
namespace {

class RunningBundle {
 public:
  // channel_fd: where the child finds its end; anything but 3 is announced via
  // CORDON_CHANNEL_FD.
  RunningBundle(const std::string& name, int channel_fd = 3) {
    auto bundle = ManifestLoader::LoadBundle(std::string(CORDON_EXAMPLES_DIR) + "/" + name);
    EXPECT_TRUE(bundle.ok()) << bundle.status();
    if (!bundle.ok()) return;
    manifest_ = bundle->manifest;
    auto fds = SeqpacketChannel::SocketPair();
    EXPECT_TRUE(fds.ok());
    // Everything the child needs is prepared before fork: it only dup2s and execs.
    std::string entry = bundle->entry_path.string();
    std::string env_var = "CORDON_CHANNEL_FD=" + std::to_string(channel_fd);
    char* argv[] = {entry.data(), nullptr};
    char* envp[] = {env_var.data(), nullptr};
    int child_end = fds->second.get();
    pid_ = ::fork();
    if (pid_ == 0) {
      if (::dup2(child_end, channel_fd) < 0) ::_exit(126);  // dup2 clears FD_CLOEXEC
      ::execve(argv[0], argv, envp);
      ::_exit(127);
    }
    fds->second.reset();
    PluginSession::Options o;
    o.plugin_label = "plugin " + name;
    session_ = std::make_unique<PluginSession>(std::move(fds->first), o);
  }
  ~RunningBundle() {
    session_.reset();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  int Wait() {
    session_.reset();
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  PluginSession& session() { return *session_; }
  const cordon::v1::Manifest& manifest() const { return manifest_; }
  HandshakeParams Params() const {
    HandshakeParams p;
    p.host_versions = {manifest_.protocol().min(), manifest_.protocol().max()};
    p.limits = manifest_.limits();
    p.accept = [this](const PluginInfo& info) -> absl::Status {
      if (info.name != manifest_.name() || info.version != manifest_.version()) {
        return absl::FailedPreconditionError("plugin identity does not match its manifest");
      }
      return absl::OkStatus();
    };
    return p;
  }

 private:
  pid_t pid_ = -1;
  cordon::v1::Manifest manifest_;
  std::unique_ptr<PluginSession> session_;
};

TEST(ExamplePluginsTest, EchoBundle) {
  RunningBundle b("echo_plugin");
  auto info = b.session().Handshake(b.Params());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name, "echo");
  auto out = b.session().CallBytes("reverse", "abc", absl::Seconds(5));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "cba");
  ASSERT_TRUE(b.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(b.Wait(), 0);
}

TEST(ExamplePluginsTest, ChannelFdFromEnvironment) {
  RunningBundle b("echo_plugin", 7);
  ASSERT_TRUE(b.session().Handshake(b.Params()).ok());
  EXPECT_EQ(*b.session().CallBytes("echo", "x", absl::Seconds(5)), "x");
}

TEST(ExamplePluginsTest, BlobBundleStreamsLargePayloads) {
  RunningBundle b("blob_plugin");
  ASSERT_TRUE(b.session().Handshake(b.Params()).ok());
  const size_t n = size_t{32} << 20;
  auto blob = b.session().Call("generate", Payload(std::to_string(n)), absl::Seconds(20));
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_TRUE(blob->is_memfd());
  ASSERT_EQ(blob->size(), n);
  // Send it back: the plugin hashes the same bytes we hash here.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : blob->data()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  auto sum = b.session().CallBytes("checksum", blob->data(), absl::Seconds(20));
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, std::to_string(h));
  ASSERT_TRUE(b.session().Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(b.Wait(), 0);
}

}  // namespace
}  // namespace cordon::ipc
