// End to end: a real sandboxed plugin (testing/broker_probe_plugin.cc) loaded by
// host::LoadedPlugin asks for files, connections, host calls and logs through the C++ SDK; the
// broker decides, the audit log records, the answers come back. Needs root (CI is root).
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "audit/audit_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/broker/testing/loopback_listener.h"
#include "launcher/host/loaded_plugin.h"

namespace cordon::broker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class BrokerHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to sandbox the plugin";
    char tmpl[] = "/tmp/cordon-broker-host-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    chmod(root_.c_str(), 0755);
    fs::create_directories(root_ + "/data");
    fs::create_directories(root_ + "/bundle");
    std::ofstream(root_ + "/data/hello.txt") << "hello from the host";
    std::ofstream(root_ + "/secret.txt") << "secret";
    fs::copy_file(BROKER_PROBE_PLUGIN, root_ + "/bundle/plugin");
    // Loopback echo-ish server: answers "pong" to whatever arrives.
    ASSERT_NO_FATAL_FAILURE(ListenOnLoopback(4, &listener_, &port_));
  }
  void TearDown() override {
    std::error_code ec;
    if (!root_.empty()) fs::remove_all(root_, ec);
  }

  void WriteBundle(const std::string& capabilities) {
    std::ofstream m(root_ + "/bundle/manifest.textproto");
    m << "name: \"broker-probe\"\nversion: \"0.1.0\"\nentry: \"plugin\"\n"
      << "protocol { min: 1 max: 1 }\nlimits { call_timeout_ms: 5000 }\n"
      << capabilities;
  }
  std::string WriteProfile() {
    std::string source =
        absl::StrCat(getenv("CORDON_SOURCE_DIR") ? getenv("CORDON_SOURCE_DIR") : ".",
                     "/sandbox-profiles/profiles/default.textproto");
    std::ifstream in(source);
    std::stringstream text;
    text << in.rdbuf();
    std::string path = root_ + "/profile.textproto";
    std::ofstream out(path);
    out << text.str() << "\ncapabilities {\n"
        << "  fs { plugin_path: \"/data\" host_path: \"" << root_ << "/data\" read: true }\n"
        << "  net_connect: \"127.0.0.1:1-65535\"\n"
        << "  host_functions: \"greet\"\n  log: true\n}\n";
    return path;
  }

  // Loads the probe plugin with the fs.read grant, a request rate that admits about one
  // request a second (so the rest of a flood is refused) and the given refusal budget.
  absl::StatusOr<std::unique_ptr<host::LoadedPlugin>> LoadFlooder(audit::AuditLog* log,
                                                                  double refusals_per_second,
                                                                  double refusal_burst) {
    WriteBundle("capabilities { kind: \"fs.read\" target: \"/data\" }\n");
    host::LoadRequest request;
    request.bundle_dir = root_ + "/bundle";
    request.profile = WriteProfile();
    request.audit_log = log;
    request.broker_limits.requests_per_second = 1;
    request.broker_limits.request_burst = 1;
    request.broker_limits.quota_refusals_per_second = refusals_per_second;
    request.broker_limits.quota_refusal_burst = refusal_burst;
    return host::LoadedPlugin::Load(request);
  }

  // The audit log the tests read back with Records().
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> OpenAuditLog() {
    audit::AuditLogOptions options;
    options.path = root_ + "/audit.jsonl";
    return audit::AuditLog::Open(options);
  }

  std::vector<std::string> Records(const std::string& needle) {
    std::ifstream in(root_ + "/audit.jsonl");
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
      if (line.find(needle) != std::string::npos) out.push_back(line);
    }
    return out;
  }

  // Sum of the `count` fields of the quota.violation records of `quota`.
  uint64_t CountSum(const std::string& quota) {
    uint64_t sum = 0;
    for (const std::string& r : Records(absl::StrCat("\"quota\":\"", quota, "\""))) {
      size_t at = r.find("\"count\":");
      EXPECT_NE(at, std::string::npos) << r;
      if (at != std::string::npos) sum += std::stoull(r.substr(at + 8));
    }
    return sum;
  }

  std::string root_;
  ipc::UniqueFd listener_;
  uint16_t port_ = 0;
};

TEST_F(BrokerHostTest, RequestsThroughTheSdkAreBrokeredAndAudited) {
  WriteBundle(absl::StrCat("capabilities { kind: \"fs.read\" target: \"/data\" }\n",
                           "capabilities { kind: \"net.connect\" target: \"127.0.0.1:", port_,
                           "\" }\n", "capabilities { kind: \"host.call\" target: \"greet\" }\n",
                           "capabilities { kind: \"log\" }\n"));
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> audit_log = OpenAuditLog();
  ASSERT_TRUE(audit_log.ok()) << audit_log.status();

  std::mutex mu;
  std::vector<LogEntry> logs;
  host::LoadRequest request;
  request.bundle_dir = root_ + "/bundle";
  request.profile = WriteProfile();
  request.audit_log = audit_log->get();
  request.host_functions["greet"] = [](const std::string& in, absl::Duration) {
    return absl::StatusOr<std::string>(absl::StrCat("hello, ", in));
  };
  request.log_sink = [&](const LogEntry& e) {
    std::lock_guard<std::mutex> lock(mu);
    logs.push_back(e);
  };
  absl::StatusOr<std::unique_ptr<host::LoadedPlugin>> plugin = host::LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();

  absl::StatusOr<std::string> content = (*plugin)->Call("read", "/data/hello.txt");
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(*content, "hello from the host");
  absl::StatusOr<std::string> escape = (*plugin)->Call("read", "/data/../secret.txt");
  EXPECT_FALSE(escape.ok());
  EXPECT_THAT(std::string(escape.status().message()), HasSubstr(".."));
  EXPECT_FALSE((*plugin)->Call("read", "/etc/passwd").ok());

  std::thread server([&] {
    ipc::UniqueFd c(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    char buf[8];
    if (c.valid() && read(c.get(), buf, sizeof(buf)) > 0) (void)!write(c.get(), "pong", 4);
  });
  absl::StatusOr<std::string> pong = (*plugin)->Call("connect", absl::StrCat("127.0.0.1:", port_));
  server.join();
  ASSERT_TRUE(pong.ok()) << pong.status();
  EXPECT_EQ(*pong, "pong");
  EXPECT_FALSE((*plugin)->Call("connect", absl::StrCat("127.0.0.1:", port_ + 1)).ok());
  EXPECT_FALSE((*plugin)->Call("connect", absl::StrCat("127.1:", port_)).ok());

  absl::StatusOr<std::string> greeting = (*plugin)->Call("host", "greet:plugin");
  ASSERT_TRUE(greeting.ok()) << greeting.status();
  EXPECT_EQ(*greeting, "hello, plugin");
  EXPECT_FALSE((*plugin)->Call("host", "other:x").ok());

  ASSERT_TRUE((*plugin)->Call("log", "look out").ok());
  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(logs.size(), 1u);
    EXPECT_EQ(logs[0].message, "look out");
    EXPECT_EQ(logs[0].level, "WARNING");
    EXPECT_EQ(logs[0].fields.at("k"), "v");
  }
  ASSERT_TRUE((*audit_log)->Flush().ok());
  std::ifstream in(root_ + "/audit.jsonl");
  std::string line;
  int uses = 0, denied = 0;
  while (std::getline(in, line)) {
    if (line.find("\"type\":\"capability.use\"") == std::string::npos) continue;
    ++uses;
    if (line.find("\"decision\":\"deny\"") != std::string::npos) ++denied;
  }
  EXPECT_EQ(uses, 9);
  EXPECT_EQ(denied, 5);
}

// A path that is not UTF-8 cannot even be a valid broker request (OpenFileRequest.path is a
// proto3 string): the launcher refuses the whole message as malformed, records a
// protocol.violation and kills the plugin; no file is opened.
TEST_F(BrokerHostTest, InvalidUtf8PathIsAProtocolViolation) {
  WriteBundle("capabilities { kind: \"fs.read\" target: \"/data\" }\n");
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> audit_log = OpenAuditLog();
  ASSERT_TRUE(audit_log.ok()) << audit_log.status();
  host::LoadRequest request;
  request.bundle_dir = root_ + "/bundle";
  request.profile = WriteProfile();
  request.audit_log = audit_log->get();
  absl::StatusOr<std::unique_ptr<host::LoadedPlugin>> plugin = host::LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::StatusOr<std::string> out = (*plugin)->Call("read", "/data/\xff\xfe.txt");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ((*plugin)->state(), host::PluginState::kFailed) << out.status();
  (void)(*plugin)->Shutdown(absl::Seconds(5));
  plugin->reset();
  ASSERT_TRUE((*audit_log)->Flush().ok());
  std::vector<std::string> violations = Records("\"type\":\"protocol.violation\"");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_THAT(violations[0], HasSubstr("malformed"));
  // Never a broker request, so never decided: no file capability.use at all. (What the
  // plugin wrote to stderr meanwhile, its SDK's complaint, is a log line: without the log
  // grant, one capability.use for "log".)
  EXPECT_TRUE(Records("\"capability\":\"fs.").empty());
}

TEST_F(BrokerHostTest, RefusalFloodKillsThePluginWithOneRecord) {
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> audit_log = OpenAuditLog();
  ASSERT_TRUE(audit_log.ok()) << audit_log.status();
  absl::StatusOr<std::unique_ptr<host::LoadedPlugin>> plugin =
      LoadFlooder(audit_log->get(), 10, 20);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  // 20000 opens; without the refusal budget each refused one costs two records.
  absl::StatusOr<std::string> out =
      (*plugin)->Call("flood", "20000 /data/hello.txt", absl::Seconds(30));
  ASSERT_FALSE(out.ok()) << *out;
  EXPECT_EQ((*plugin)->state(), host::PluginState::kFailed);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("broker_refusal_flood"));
  (void)(*plugin)->Shutdown(absl::Seconds(5));
  plugin->reset();
  ASSERT_TRUE((*audit_log)->Flush().ok());

  std::vector<std::string> kills = Records("\"quota\":\"broker_refusal_flood\"");
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_THAT(kills[0], HasSubstr("\"action\":\"killed\""));
  // The budget's burst, plus the refusal that found it empty (a slow run may refill a few).
  size_t at = kills[0].find("\"count\":");
  ASSERT_NE(at, std::string::npos);
  uint64_t refusals = std::stoull(kills[0].substr(at + 8));
  EXPECT_GE(refusals, 21u);
  // Every refusal up to the kill is counted in the folded records, none twice.
  EXPECT_EQ(CountSum("broker_request_rate"), refusals);
  // Bounded: a handful of requests recorded, not thousands.
  size_t uses = Records("\"type\":\"capability.use\"").size();
  size_t quota_records = Records("\"type\":\"quota.violation\"").size();
  EXPECT_LE(uses, refusals + 10);
  EXPECT_LE(quota_records, 10u);
  EXPECT_LE(fs::file_size(root_ + "/audit.jsonl"), 64u << 10);
  std::vector<std::string> failed = Records("\"type\":\"plugin.failed\"");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_THAT(failed[0], HasSubstr("broker_refusal_flood"));
}

TEST_F(BrokerHostTest, RefusalsWithinTheBudgetAreFoldedNotKilled) {
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> audit_log = OpenAuditLog();
  ASSERT_TRUE(audit_log.ok()) << audit_log.status();
  absl::StatusOr<std::unique_ptr<host::LoadedPlugin>> plugin =
      LoadFlooder(audit_log->get(), 10, 200);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::Time start = absl::Now();
  // 150 opens: about 149 refused, within the burst of 200, so never killed.
  absl::StatusOr<std::string> out =
      (*plugin)->Call("flood", "150 /data/hello.txt", absl::Seconds(30));
  absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(out.ok()) << out.status();
  int ok = 0, refused = 0, other = 0;
  ASSERT_EQ(sscanf(out->c_str(), "ok=%d refused=%d other=%d", &ok, &refused, &other), 3) << *out;
  EXPECT_EQ(ok + refused, 150);
  EXPECT_EQ(other, 0);
  EXPECT_GT(refused, 100);
  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  plugin->reset();
  ASSERT_TRUE((*audit_log)->Flush().ok());
  EXPECT_TRUE(Records("broker_refusal_flood").empty());
  EXPECT_EQ(Records("\"type\":\"capability.use\"").size(), 150u);
  // Folded: at most one record per second of the flood (plus the one flushed at exit), and
  // the counts add up to every refusal.
  size_t quota_records = Records("\"type\":\"quota.violation\"").size();
  EXPECT_LE(quota_records, 2 + static_cast<size_t>(absl::ToInt64Seconds(took)));
  EXPECT_EQ(CountSum("broker_request_rate"), static_cast<uint64_t>(refused));
}

// A handler that logs hundreds of lines and then computes for longer than the host's 2 s send
// bound is a normal plugin, not a flood: log lines are fire-and-forget, so no answers pile up
// unread in its channel while it works.
TEST_F(BrokerHostTest, HandlerThatLogsAndKeepsWorkingIsNotKilled) {
  WriteBundle("capabilities { kind: \"log\" }\n");
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> audit_log = OpenAuditLog();
  ASSERT_TRUE(audit_log.ok()) << audit_log.status();
  std::mutex mu;
  size_t sunk = 0;
  host::LoadRequest request;
  request.bundle_dir = root_ + "/bundle";
  request.profile = WriteProfile();
  request.audit_log = audit_log->get();
  request.log_sink = [&](const LogEntry&) {
    std::lock_guard<std::mutex> lock(mu);
    ++sunk;
  };
  absl::StatusOr<std::unique_ptr<host::LoadedPlugin>> plugin = host::LoadedPlugin::Load(request);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  // 800 lines: within the channel's burst of unsolicited messages (1000), far more answers than
  // its socket buffer holds; then 2.5 s of work, past the host's 2 s bound on a blocked send.
  absl::StatusOr<std::string> out = (*plugin)->Call("chatty", "800 2500", absl::Seconds(20));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "logged 800");
  EXPECT_EQ((*plugin)->state(), host::PluginState::kReady);
  ASSERT_TRUE((*plugin)->Shutdown(absl::Seconds(5)).ok());
  plugin->reset();
  ASSERT_TRUE((*audit_log)->Flush().ok());
  // The log rate limit (burst 200) let some through and dropped the rest, as designed.
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_GE(sunk, 200u);
    EXPECT_LT(sunk, 800u);
  }
  EXPECT_TRUE(Records("message_flood").empty());
  EXPECT_TRUE(Records("\"type\":\"plugin.failed\"").empty());
}

TEST_F(BrokerHostTest, LoadRefusedWhenTheManifestExceedsTheProfile) {
  WriteBundle(
      "capabilities { kind: \"fs.write\" target: \"/data\" }\n"
      "capabilities { kind: \"net.connect\" target: \"10.0.0.1:443\" }\n"
      "capabilities { kind: \"fs.read\" target: \"/data\" }\n");
  host::LoadRequest request;
  request.bundle_dir = root_ + "/bundle";
  request.profile = WriteProfile();
  absl::StatusOr<std::unique_ptr<host::LoadedPlugin>> plugin = host::LoadedPlugin::Load(request);
  ASSERT_FALSE(plugin.ok());
  std::string message(plugin.status().message());
  EXPECT_THAT(message, HasSubstr("2 capabilities beyond"));
  EXPECT_THAT(message, HasSubstr("fs.write '/data'"));
  EXPECT_THAT(message, HasSubstr("net.connect '10.0.0.1:443'"));
}

}  // namespace
}  // namespace cordon::broker
