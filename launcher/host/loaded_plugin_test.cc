#include "launcher/host/loaded_plugin.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cordon/v1/envelope.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ipc/seqpacket_channel.h"
#include "launcher/host/testing/host_test_support.h"

namespace cordon::host {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::AuditTrail;
using testing_util::BundleFactory;
using testing_util::EchoBundle;
using testing_util::ProcessGone;

LoadRequest Request(const std::string& bundle_dir) {
  LoadRequest request;
  request.bundle_dir = bundle_dir;
  return request;
}

TEST(LoadedPluginTest, LifecycleFromLoadToStoppedIsObservedInOrder) {
  std::mutex mu;
  std::vector<std::string> states;
  LoadRequest request;
  request.bundle_dir = EchoBundle();
  request.on_state_change = [&](PluginState state, const std::string&) {
    std::lock_guard<std::mutex> lock(mu);
    states.push_back(PluginStateName(state));
  };
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_EQ((*plugin)->state(), PluginState::kReady);
  EXPECT_EQ((*plugin)->info().name, "echo");
  absl::StatusOr<std::string> reversed = (*plugin)->Call("reverse", "abc");
  ASSERT_TRUE(reversed.ok()) << reversed.status();
  EXPECT_EQ(*reversed, "cba");
  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ((*plugin)->state(), PluginState::kStopped);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_THAT(states,
              ElementsAre("load", "spawn", "probe", "configure", "ready", "draining", "stopped"));
}

TEST(LoadedPluginTest, ManyThreadsCallAtOnce) {
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(Request(EchoBundle()));
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string input = absl::StrCat("t", t, "-", i);
        absl::StatusOr<std::string> out = (*plugin)->Call("echo", input);
        if (out.ok() && *out == input) ++good;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(good.load(), 400);
  std::future<absl::StatusOr<std::string>> async = (*plugin)->CallAsync("reverse", "xy");
  absl::StatusOr<std::string> result = async.get();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, "yx");
}

TEST(LoadedPluginTest, CrashDuringCallNamesThePluginAndLeavesTheHostUnharmed) {
  BundleFactory bundles;
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin =
      LoadedPlugin::Load(Request(bundles.Make("crash", "misbehaving", {})));
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::StatusOr<std::string> result = (*plugin)->Call("crash", "");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("misbehaving"));
  (*plugin)->Shutdown(absl::Seconds(2)).IgnoreError();
  EXPECT_EQ((*plugin)->state(), PluginState::kFailed);
  // A second plugin is unaffected.
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> other = LoadedPlugin::Load(Request(EchoBundle()));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE((*other)->Call("echo", "still fine").ok());
}

TEST(LoadedPluginTest, NameDifferentFromTheManifestIsRejected) {
  BundleFactory bundles;
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin =
      LoadedPlugin::Load(Request(bundles.Make("impostor", "misbehaving", {"--name=echo"})));
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(), HasSubstr("manifest says 'misbehaving'"));
}

// The plugin's stdio are never the host's: stdin is /dev/null, and what it writes on stdout and
// stderr arrives as log lines (stream field; a last line without a newline at exit) through
// the log grant.
TEST(LoadedPluginTest, PluginStdoutAndStderrBecomeLogLinesAndStdinIsEmpty) {
  BundleFactory bundles;
  std::mutex mu;
  std::vector<broker::LogEntry> lines;
  LoadRequest request = Request(
      bundles.Make("stdio", "misbehaving", {}, "capabilities { kind: \"log\" target: \"\" }\n"));
  request.profile = "fs-reader";  // allows plugin logs
  request.log_sink = [&](const broker::LogEntry& entry) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(entry);
  };
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::StatusOr<std::string> out = (*plugin)->Call("stdio", "hi");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "stdin read 0");
  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());  // the exit flushes "tail"
  std::lock_guard<std::mutex> lock(mu);
  std::map<std::string, broker::LogEntry> by_message;
  for (const broker::LogEntry& e : lines) by_message[e.message] = e;
  ASSERT_EQ(by_message.count("out:hi"), 1u) << lines.size();
  EXPECT_EQ(by_message["out:hi"].level, "INFO");
  EXPECT_EQ(by_message["out:hi"].fields["stream"], "stdout");
  ASSERT_EQ(by_message.count("err:hi"), 1u);
  EXPECT_EQ(by_message["err:hi"].level, "WARNING");
  EXPECT_EQ(by_message["err:hi"].fields["stream"], "stderr");
  ASSERT_EQ(by_message.count("tail"), 1u);
  EXPECT_EQ(by_message["tail"].fields["stream"], "stderr");
}

TEST(LoadedPluginTest, PluginOutputWithoutTheLogGrantIsDiscardedWithOneRecord) {
  BundleFactory bundles;
  AuditTrail trail;
  int sunk = 0;
  LoadRequest request = Request(bundles.Make("stdio", "misbehaving", {}));
  request.audit_log = trail.log();
  request.log_sink = [&](const broker::LogEntry&) { ++sunk; };
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*plugin)->Call("stdio", "x").ok());
  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  EXPECT_EQ(sunk, 0);
  int denials = 0;
  for (const audit::JsonValue& r : trail.Records()) {
    const audit::JsonValue* type = r.Find("type");
    const audit::JsonValue* capability = r.Find("capability");
    if (type != nullptr && type->string_value() == "capability.use" && capability != nullptr &&
        capability->string_value() == "log") {
      ++denials;
      EXPECT_EQ(r.Find("decision")->string_value(), "deny");
      EXPECT_THAT(r.Find("reason")->string_value(), HasSubstr("output is discarded"));
    }
  }
  EXPECT_EQ(denials, 1);  // 11 lines of output, one record
}

TEST(LoadedPluginTest, KillEndsTheSandboxAndCallsFailClearly) {
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(Request(EchoBundle()));
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  pid_t pid = (*plugin)->host_pid();
  ASSERT_GT(pid, 0);
  (*plugin)->Kill();
  // A failed plugin's shutdown says so (and why), rather than looking like a clean stop.
  absl::Status shut = (*plugin)->Shutdown(absl::Seconds(2));
  EXPECT_TRUE(absl::IsFailedPrecondition(shut)) << shut;
  EXPECT_THAT(shut.message(), HasSubstr("had already failed"));
  EXPECT_EQ((*plugin)->state(), PluginState::kFailed);
  EXPECT_TRUE(ProcessGone(pid));
  absl::StatusOr<std::string> result = (*plugin)->Call("echo", "x");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("echo"));
}

// One call on a data channel: the echoed text, or why none came.
absl::StatusOr<std::string> DirectEcho(ipc::SeqpacketChannel& data, uint64_t id,
                                       const std::string& text) {
  cordon::v1::Envelope call;
  call.mutable_call_request()->set_id(id);
  call.mutable_call_request()->set_method("echo");
  call.mutable_call_request()->mutable_payload()->set_inline_(text);
  if (absl::Status s = data.Send(call.SerializeAsString()); !s.ok()) return s;
  auto reply = data.Receive(absl::Now() + absl::Seconds(10));
  if (!reply.ok()) return reply.status();
  cordon::v1::Envelope result;
  if (!result.ParseFromString(reply->bytes) || result.call_result().id() != id) {
    return absl::DataLossError("not the call's result");
  }
  return result.call_result().payload().inline_();
}

TEST(LoadedPluginTest, DirectChannelReachesThePluginItself) {
  BundleFactory bundles;
  LoadRequest request = Request(bundles.Make("direct", "misbehaving", {}));
  request.direct_channel = true;
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  ASSERT_TRUE((*plugin)->serves_direct_channel());
  absl::StatusOr<DirectGrant> grant = (*plugin)->GrantDirectChannel();
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_TRUE(fcntl(grant->fd.get(), F_GETFD) & FD_CLOEXEC);
  ipc::SeqpacketChannel data(std::move(grant->fd), ipc::SeqpacketChannel::Options{1 << 20, 0});
  absl::StatusOr<std::string> echoed = DirectEcho(data, 42, "straight through");
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_EQ(*echoed, "straight through");
  // The host path works beside it; a kill ends the data channel too.
  EXPECT_TRUE((*plugin)->Call("echo", "x").ok());
  (*plugin)->Kill("test");
  EXPECT_TRUE(absl::IsUnavailable(data.Receive(absl::Now() + absl::Seconds(10)).status()));
  EXPECT_FALSE((*plugin)->GrantDirectChannel().ok());
}

// Each grant is its own socket: a revoked holder reads EOF and gets no answer, the next
// holder is served, and the plugin holds no more than it offered.
TEST(LoadedPluginTest, RevokedDirectChannelIsDeadForItsHolder) {
  BundleFactory bundles;
  LoadRequest request = Request(bundles.Make("direct", "misbehaving", {}));
  request.direct_channel = true;
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::StatusOr<DirectGrant> first = (*plugin)->GrantDirectChannel();
  ASSERT_TRUE(first.ok()) << first.status();
  ipc::SeqpacketChannel old_holder(std::move(first->fd),
                                   ipc::SeqpacketChannel::Options{1 << 20, 0});
  ASSERT_TRUE(DirectEcho(old_holder, 1, "before").ok());
  ASSERT_TRUE((*plugin)->RevokeDirectChannel(first->id).ok());
  EXPECT_EQ((*plugin)->RevokeDirectChannel(first->id).code(), absl::StatusCode::kNotFound);
  absl::StatusOr<DirectGrant> second = (*plugin)->GrantDirectChannel();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(second->id, first->id);
  ipc::SeqpacketChannel new_holder(std::move(second->fd),
                                   ipc::SeqpacketChannel::Options{1 << 20, 0});
  // EOF once the plugin handled the revocation (Receive waits for it; no sleep).
  EXPECT_TRUE(absl::IsUnavailable(old_holder.Receive(absl::Now() + absl::Seconds(10)).status()));
  EXPECT_FALSE(DirectEcho(old_holder, 2, "after").ok()) << "a revoked holder reached the plugin";
  absl::StatusOr<std::string> served = DirectEcho(new_holder, 1, "next holder");
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(*served, "next holder");
  // The SDK offers 4 at once; one is held, three more fit, the fifth is refused.
  std::vector<DirectGrant> more;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<DirectGrant> g = (*plugin)->GrantDirectChannel();
    ASSERT_TRUE(g.ok()) << g.status();
    more.push_back(std::move(*g));
  }
  EXPECT_EQ((*plugin)->GrantDirectChannel().status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE((*plugin)->Call("echo", "fd 3 unaffected").ok());
  // Shutdown takes every grant back before the drain.
  EXPECT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  EXPECT_TRUE(absl::IsUnavailable(new_holder.Receive(absl::Now() + absl::Seconds(10)).status()));
  EXPECT_EQ((*plugin)->state(), PluginState::kStopped);
}

// Only the host opens data channels: a plugin sending data_channel_open is a violation.
TEST(LoadedPluginTest, PluginSendingDataChannelOpenIsAViolation) {
  BundleFactory bundles;
  LoadRequest request = Request(bundles.Make("rogue", "misbehaving", {}));
  request.direct_channel = true;
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::StatusOr<std::string> result = (*plugin)->Call("rogue_open", "", absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("data_channel_open"));
  (*plugin)->Shutdown(absl::Seconds(2)).IgnoreError();
  EXPECT_EQ((*plugin)->state(), PluginState::kFailed);
  EXPECT_FALSE((*plugin)->GrantDirectChannel().ok());
}

TEST(LoadedPluginTest, DirectChannelOnlyWhenAskedForAndOffered) {
  BundleFactory bundles;
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> not_asked =
      LoadedPlugin::Load(Request(bundles.Make("plain", "misbehaving", {})));
  ASSERT_TRUE(not_asked.ok()) << not_asked.status();
  EXPECT_FALSE((*not_asked)->serves_direct_channel());
  EXPECT_EQ((*not_asked)->GrantDirectChannel().status().code(),
            absl::StatusCode::kFailedPrecondition);

  LoadRequest request = Request(bundles.Make("old", "misbehaving", {"--no-data-channel"}));
  request.direct_channel = true;
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> unoffered = LoadedPlugin::Load(request);
  ASSERT_TRUE(unoffered.ok()) << unoffered.status();
  EXPECT_FALSE((*unoffered)->serves_direct_channel());
  EXPECT_TRUE((*unoffered)->Call("echo", "relayed only").ok());
}

TEST(LoadedPluginTest, BadBundleGivesAClearError) {
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin =
      LoadedPlugin::Load(Request("/nonexistent/bundle"));
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(), HasSubstr("/nonexistent/bundle"));
}

// A 1 MiB input written in place reaches the sandboxed plugin intact (the C++ SDK opts in to
// shared buffers, so no copy is made on the way), and the buffer is reused for the next call.
TEST(LoadedPluginTest, InputWrittenInPlaceReachesThePlugin) {
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(Request(EchoBundle()));
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  for (char fill : {'a', 'b'}) {
    absl::StatusOr<ipc::SharedInput> input = (*plugin)->AcquireInput(1 << 20);
    ASSERT_TRUE(input.ok()) << input.status();
    EXPECT_TRUE(input->is_shared());
    std::memset(input->data().data(), fill, input->size());
    absl::StatusOr<std::string> echoed = (*plugin)->Call("echo", std::move(*input));
    ASSERT_TRUE(echoed.ok()) << echoed.status();
    EXPECT_EQ(*echoed, std::string(1 << 20, fill));
  }
  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  EXPECT_FALSE((*plugin)->AcquireInput(16).ok()) << "a stopped plugin hands out no buffers";
}

}  // namespace
}  // namespace cordon::host
