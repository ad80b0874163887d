// The audit log's failure policy at launcher level: `cordon call` and `cordon serve` with their
// log on a tiny tmpfs that a plugin fills with broker requests (each one a capability.use
// record) until a write fails. docs/audit.md, "Write failures": kill (the default) kills every
// plugin, stop kills them and ends the launcher with status 1, deny refuses only what needs a
// record.
#include <poll.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/serve/testing/control_test_client.h"
#include "tests/integration/cordon_runner.h"
#include "tests/integration/temp_dir.h"

namespace cordon::serve {
namespace {

using integration::CordonRunner;
using integration::RunningCordon;
using integration::RunOptions;
using integration::RunResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::EchoBundle;
using testing_util::TestClient;
using testing_util::WaitGone;

// Requests the opener makes at most: far more than a 64 KiB log holds, fewer than the broker's
// request burst (400), so the log fills before any rate limit is reached.
constexpr char kOpens[] = "390";

class AuditFailurePolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "mounts a tmpfs: run as root (ctest -L root)";
    full_ = dir_.File("full");
    ASSERT_EQ(mkdir(full_.c_str(), 0755), 0);
    ASSERT_EQ(mount("cordon-test", full_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k"), 0)
        << strerror(errno);
    mounted_ = true;
    std::filesystem::create_directories(dir_.File("opener"));
    dir_.Copy(MISBEHAVING_PLUGIN_PATH, "opener/plugin");
    dir_.Write("opener/manifest.textproto",
               "name: \"misbehaving\" version: \"0.1.0\" entry: \"plugin\" "
               "protocol { min: 1 max: 1 } limits { call_timeout_ms: 20000 }\n");
    dir_.Write("opens", kOpens);
  }
  void TearDown() override {
    if (mounted_) umount2(full_.c_str(), MNT_DETACH);
  }

  std::string opener() const { return dir_.File("opener"); }
  std::string audit_path() const { return full_ + "/audit.jsonl"; }

  RunResult Call(const std::string& policy) {
    RunOptions options;
    options.subcommand = {"call"};
    options.audit = false;  // on the tmpfs instead
    options.args = {"--audit-log",      audit_path(), "--audit-on-failure", policy, "--input",
                    dir_.File("opens"), opener(),     "open_loop"};
    options.timeout = absl::Seconds(60);
    return CordonRunner::Run(options);
  }

  // `cordon serve` in the background, its stderr on the pipe WaitForLine reads.
  RunningCordon Serve(const std::string& policy) {
    RunOptions options;
    options.subcommand = {"serve"};
    options.audit = false;
    options.wrapper = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1"};
    options.args = {"--control-socket",   socket(), "--audit-log", audit_path(),
                    "--audit-on-failure", policy};
    absl::StatusOr<RunningCordon> running = CordonRunner::Start(options);
    EXPECT_TRUE(running.ok()) << running.status();
    if (!running.ok()) return {};
    EXPECT_TRUE(CordonRunner::WaitForLine(*running, "cordon serve: listening on " + socket(),
                                          absl::Seconds(20)));
    return *running;
  }
  std::string socket() const { return dir_.File("control.sock"); }

  integration::TempDir dir_;
  std::string full_;
  bool mounted_ = false;
};

TEST_F(AuditFailurePolicyTest, CallUnderKillKillsThePlugin) {
  RunResult r = Call("kill");
  EXPECT_EQ(r.exit_status, 1) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("cordon call: audit log failed"));
  EXPECT_THAT(r.err, HasSubstr("the audit log failed (kill-plugins)"));
  EXPECT_THAT(r.out, Not(HasSubstr("audit refused"))) << "the plugin kept running";
}

// The contrast: under deny the plugin is only refused the request it could not have recorded.
TEST_F(AuditFailurePolicyTest, CallUnderDenyRefusesTheRequestOnly) {
  RunResult r = Call("deny");
  EXPECT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("audit refused request"));
}

TEST_F(AuditFailurePolicyTest, CallUnderStopKillsThePluginAndFails) {
  RunResult r = Call("stop");
  EXPECT_EQ(r.exit_status, 1) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("the audit log failed (stop-launcher)"));
  EXPECT_THAT(r.out, Not(HasSubstr("audit refused")));
}

struct TwoPlugins {
  std::string bystander_id;
  pid_t bystander_pid = -1;
  std::string opener_id;
};

TwoPlugins LoadTwo(TestClient& client, const std::string& opener) {
  TwoPlugins loaded;
  cordon::v1::ControlResponse bystander = client.Load(EchoBundle());
  EXPECT_FALSE(bystander.has_error()) << bystander.error().message();
  loaded.bystander_id = bystander.load().plugin().plugin_id();
  loaded.bystander_pid = static_cast<pid_t>(bystander.load().plugin().host_pid());
  cordon::v1::ControlResponse opened = client.Load(opener);
  EXPECT_FALSE(opened.has_error()) << opened.error().message();
  loaded.opener_id = opened.load().plugin().plugin_id();
  return loaded;
}

// One plugin's record fails; the other one, which wrote nothing, is killed too, and the daemon
// serves on without loading anything new.
TEST_F(AuditFailurePolicyTest, ServeUnderKillKillsEveryPluginAndServesOn) {
  RunningCordon daemon = Serve("kill");
  absl::Cleanup finish = [&] { CordonRunner::Finish(&daemon); };
  TestClient client(socket());
  TwoPlugins loaded = LoadTwo(client, opener());
  ASSERT_GT(loaded.bystander_pid, 0);

  cordon::v1::ControlResponse flood = client.Call(loaded.opener_id, "open_loop", kOpens);
  EXPECT_TRUE(flood.has_error()) << "the opener kept running: " << flood.call().output().inline_();
  EXPECT_TRUE(WaitGone(loaded.bystander_pid)) << "the bystander plugin was not killed";
  cordon::v1::ControlResponse after = client.Call(loaded.bystander_id, "echo", "x");
  ASSERT_TRUE(after.has_error());
  EXPECT_THAT(after.error().message(), HasSubstr("the audit log failed (kill-plugins)"));
  cordon::v1::ControlResponse listed = client.List();
  ASSERT_FALSE(listed.has_error()) << "the daemon stopped: " << listed.error().message();
  ASSERT_EQ(listed.list().plugins_size(), 2);
  for (const auto& plugin : listed.list().plugins()) EXPECT_EQ(plugin.state(), "failed");
  EXPECT_TRUE(client.Load(EchoBundle()).has_error()) << "a plugin was loaded without records";
}

TEST_F(AuditFailurePolicyTest, ServeUnderStopKillsEveryPluginAndExits) {
  RunningCordon daemon = Serve("stop");
  absl::Cleanup finish = [&] { CordonRunner::Finish(&daemon); };
  TestClient client(socket());
  TwoPlugins loaded = LoadTwo(client, opener());
  ASSERT_GT(loaded.bystander_pid, 0);

  (void)client.Call(loaded.opener_id, "open_loop", kOpens);
  EXPECT_TRUE(WaitGone(loaded.bystander_pid));
  struct pollfd exited {
    daemon.pidfd, POLLIN, 0
  };
  ASSERT_EQ(poll(&exited, 1, 20000), 1) << "cordon serve did not stop";
  int status = 0;
  ASSERT_EQ(waitpid(daemon.pid, &status, 0), daemon.pid);
  daemon.pid = -1;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

}  // namespace
}  // namespace cordon::serve
