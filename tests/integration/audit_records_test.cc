// Audit: plugin.start, seccomp.violation, quota.violation and plugin.exit carry the fields
// the CLI documents; every record has seq, ts, type, prev and hash, chained.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "audit/audit_log.h"
#include "audit/audit_verifier.h"
#include "audit/log_reader.h"
#include "tests/integration/failing_disk.h"
#include "tests/integration/temp_dir.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

using ::testing::ElementsAre;

void ExpectEnvelope(const RunResult& r) {
  ASSERT_TRUE(r.audit_error.empty()) << r.audit_error;
  std::string prev(64, '0');
  for (size_t i = 0; i < r.audit.size(); ++i) {
    const audit::JsonValue& record = r.audit[i];
    SCOPED_TRACE(StringField(record, "type"));
    EXPECT_EQ(IntField(record, "seq"), static_cast<int64_t>(i + 1));
    std::string ts = StringField(record, "ts");
    EXPECT_EQ(ts.size(), 30u) << ts;  // 2026-11-25T12:10:00.025180261Z
    EXPECT_EQ(ts.back(), 'Z');
    EXPECT_FALSE(StringField(record, "type").empty());
    EXPECT_EQ(StringField(record, "prev"), prev);
    prev = StringField(record, "hash");
    EXPECT_EQ(prev.size(), 64u);
  }
  TempDir dir;
  std::string copy = dir.Write("audit.jsonl", r.audit_text);
  absl::StatusOr<audit::VerifyResult> verified =
      audit::AuditVerifier::Verify({copy}, audit::VerifyOptions{});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;
  EXPECT_EQ(verified->records, r.audit.size());
}

TEST(AuditRecords, StartAndExitFields) {
  const std::string probe = CordonRunner::Probe("sandbox_probe");
  RunResult r = RunCordon({"--", probe, "exit", "9"});
  ASSERT_EQ(r.exit_status, 9) << r.Describe();
  ASSERT_EQ(r.audit.size(), 2u) << r.Describe();
  ExpectEnvelope(r);

  const audit::JsonValue& start = r.audit[0];
  EXPECT_EQ(StringField(start, "type"), "plugin.start");
  EXPECT_EQ(StringField(start, "profile"), "default");
  EXPECT_EQ(StringField(start, "program"), probe);
  const audit::JsonValue* argv = start.Find("argv");
  ASSERT_NE(argv, nullptr);
  ASSERT_EQ(argv->array().size(), 3u);
  EXPECT_EQ(argv->array()[0].string_value(), probe);
  EXPECT_EQ(argv->array()[1].string_value(), "exit");
  EXPECT_EQ(argv->array()[2].string_value(), "9");
  EXPECT_GT(IntField(start, "host_pid"), 1);
  EXPECT_NE(IntField(start, "host_pid"), r.cordon_pid);
  EXPECT_EQ(IntField(start, "launcher_pid"), r.cordon_pid);
  const audit::JsonValue* uid_map = start.Find("uid_map");
  ASSERT_NE(uid_map, nullptr);
  EXPECT_EQ(IntField(*uid_map, "sandbox_uid"), 1000);
  EXPECT_EQ(IntField(*uid_map, "host_uid"), 65534);
  EXPECT_TRUE(absl::StartsWith(StringField(start, "quota_backend"), "cgroup"))
      << StringField(start, "quota_backend");
  const audit::JsonValue* rootless = start.Find("rootless");
  ASSERT_NE(rootless, nullptr);
  EXPECT_EQ(rootless->kind(), audit::JsonValue::Kind::kBool);
  EXPECT_FALSE(rootless->bool_value());

  const audit::JsonValue& exit = r.audit[1];
  EXPECT_EQ(StringField(exit, "type"), "plugin.exit");
  EXPECT_EQ(IntField(exit, "exit_code"), 9);
  EXPECT_FALSE(HasField(exit, "signal"));
  EXPECT_GE(IntField(exit, "wall_ms"), 0);
  EXPECT_GE(IntField(exit, "cpu_ms"), 0);
  EXPECT_GT(IntField(exit, "peak_memory_bytes"), 0);
  EXPECT_FALSE(HasField(exit, "reason"));
  ExpectNoLeftovers(r);
}

TEST(AuditRecords, ExitRecordForSignalAndCpuAndWallTime) {
  RunResult r = RunCordon(
      {"--profile", "minimal", "--", CordonRunner::Probe("quota_bomb", true), "spin", "1"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  const audit::JsonValue* exit = r.Record("plugin.exit");
  ASSERT_NE(exit, nullptr);
  // A one-second spin: the record counts at least the CPU the program says it used (the
  // machine is shared, so that may be well under a second), and the second of wall time.
  std::string probe_cpu = r.Field("spin", "cpu_ms");
  ASSERT_FALSE(probe_cpu.empty()) << r.out;
  EXPECT_GT(std::stoll(probe_cpu), 0);
  EXPECT_GE(IntField(*exit, "cpu_ms"), std::stoll(probe_cpu)) << r.audit_text;
  EXPECT_GE(IntField(*exit, "wall_ms"), 1000) << r.audit_text;

  RunResult killed = RunCordon(
      {"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe", true), "signal", "6"});
  const audit::JsonValue* signal_exit = killed.Record("plugin.exit");
  ASSERT_NE(signal_exit, nullptr);
  EXPECT_EQ(IntField(*signal_exit, "signal"), 6);
  EXPECT_FALSE(HasField(*signal_exit, "exit_code"));
  ExpectEnvelope(killed);
}

TEST(AuditRecords, SeccompViolationFields) {
  RunResult r = RunCordon({"--", CordonRunner::Probe("syscall_probe"), "keyctl"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  ASSERT_EQ(r.audit.size(), 3u) << r.Describe();
  ExpectEnvelope(r);
  const audit::JsonValue& v = r.audit[1];
  EXPECT_EQ(StringField(v, "type"), "seccomp.violation");
  EXPECT_EQ(StringField(v, "syscall"), "keyctl");
  EXPECT_EQ(IntField(v, "nr"), 250);  // __NR_keyctl on x86_64
  EXPECT_EQ(StringField(v, "arch"), "x86_64");
  EXPECT_EQ(StringField(v, "action"), "eperm");
  // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); the probe passes -3 as an
  // int through syscall()'s varargs, so only the low 32 bits are defined.
  EXPECT_EQ(ViolationArg(v, 0), 0u);
  EXPECT_EQ(ViolationArg(v, 1) & 0xffffffffu, 0xfffffffdu);
  EXPECT_EQ(v.Find("args")->array().size(), 6u);
  EXPECT_GT(IntField(v, "host_pid"), 0);
  EXPECT_NE(IntField(v, "host_pid"), r.HostPid()) << "the program, not the init";
  EXPECT_EQ(IntField(r.audit[2], "seccomp_violations"), 1);
  // Every plugin-scoped record names the sandbox's init in its plugin object.
  for (const audit::JsonValue& record : r.audit) {
    SCOPED_TRACE(StringField(record, "type"));
    const audit::JsonValue* plugin = record.Find("plugin");
    ASSERT_NE(plugin, nullptr);
    EXPECT_EQ(IntField(*plugin, "host_pid"), r.HostPid());
  }
}

TEST(AuditRecords, QuotaViolationFields) {
  RunResult r =
      RunCordon({"--wall-time", "300ms", "--", CordonRunner::Probe("quota_bomb"), "sleep", "20"});
  ASSERT_EQ(r.exit_status, 124) << r.Describe();
  ExpectEnvelope(r);
  const audit::JsonValue* q = r.Record("quota.violation");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(StringField(*q, "quota"), "wall_time");
  EXPECT_EQ(IntField(*q, "limit"), 300);
  EXPECT_GE(IntField(*q, "observed"), 300);
  EXPECT_EQ(StringField(*q, "action"), "killed");
  // The violation precedes the exit record, which names the reason.
  const audit::JsonValue* exit = r.Record("plugin.exit");
  ASSERT_NE(exit, nullptr);
  EXPECT_LT(IntField(*q, "seq"), IntField(*exit, "seq"));
  EXPECT_TRUE(absl::StrContains(StringField(*exit, "reason"), "wall_time")) << r.audit_text;
  ASSERT_NE(q->Find("plugin"), nullptr);
  EXPECT_EQ(IntField(*q->Find("plugin"), "host_pid"), r.HostPid());
}

TEST(AuditRecords, RunsAppendingToOneLogKeepOneChain) {
  TempDir dir;
  const std::string log = dir.File("shared.jsonl");
  for (int i = 0; i < 3; ++i) {
    RunOptions options;
    options.audit = false;
    options.args = {"--audit-log", log, "--", CordonRunner::Probe("syscall_probe"), "keyctl"};
    RunResult r = CordonRunner::Run(options);
    ASSERT_EQ(r.exit_status, 0) << r.Describe();
  }
  std::string error;
  std::vector<audit::JsonValue> records = CordonRunner::ReadAudit(log, &error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(records.size(), 9u);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(IntField(records[i], "seq"), static_cast<int64_t>(i + 1));
  }
  absl::StatusOr<audit::VerifyResult> verified =
      audit::AuditVerifier::Verify({log}, audit::VerifyOptions{});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;
}

// kill -9 of the real launcher in the middle of a stream of denied syscalls, the log rotating
// every few records. The program reports each call once it has been answered, and cordon
// answers only after the call's seccomp.violation record is in the log (sync: fdatasync'ed;
// batch: written, which a SIGKILL of the writer cannot undo). So every call the program
// reported must have its record. The sandbox dies with the launcher; the next open of the log
// cuts a torn last record if there is one, and the chain, across the rotated files, verifies.
class SigkillMidStreamTest : public ::testing::TestWithParam<bool> {};

TEST_P(SigkillMidStreamTest, EveryAnsweredCallHasItsRecord) {
  const bool sync = GetParam();
  TempDir dir;
  const std::string log = dir.File("stream.jsonl");
  int feed[2];
  ASSERT_EQ(pipe2(feed, O_CLOEXEC), 0);
  absl::Cleanup close_feed = [&] { close(feed[1]); };
  // Under the 100 individual records per syscall and second (PluginAuditor): beyond them,
  // calls are answered first and counted in a later record, which a kill -9 may lose.
  constexpr int kCalls = 90;
  constexpr int kBeforeKill = 40;
  RunOptions options;
  options.audit = false;
  options.stdin_fd = feed[0];
  options.args = {"--audit-log", log, "--audit-rotate-size", "4k"};
  if (sync) options.args.push_back("--audit-sync");
  for (const std::string& arg : {std::string("--"), CordonRunner::Probe("syscall_probe"),
                                 std::string("paced"), absl::StrCat(kCalls)}) {
    options.args.push_back(arg);
  }
  absl::StatusOr<RunningCordon> running = CordonRunner::Start(options);
  close(feed[0]);
  ASSERT_TRUE(running.ok()) << running.status();
  absl::Cleanup finish = [&] { CordonRunner::Finish(&*running); };
  const std::string first(kBeforeKill, 'x');
  ASSERT_EQ(write(feed[1], first.data(), first.size()), kBeforeKill);
  ASSERT_TRUE(CordonRunner::WaitForLine(
      *running, absl::StrCat("answered ", kBeforeKill, " errno=EPERM"), absl::Seconds(20)));
  // The rest of the stream, and the kill while cordon is answering it.
  const std::string rest(kCalls - kBeforeKill, 'x');
  ASSERT_EQ(write(feed[1], rest.data(), rest.size()), kCalls - kBeforeKill);
  ASSERT_EQ(kill(running->pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(running->pid, &status, 0), running->pid);
  running->pid = -1;
  EXPECT_TRUE(WIFSIGNALED(status));

  // What cordon relayed before it died: the calls the program saw answered.
  int64_t answered = kBeforeKill;
  std::string relayed;
  for (;;) {
    pollfd p{running->out_fd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10000), 1) << "cordon's stdout stayed open after kill -9";
    char buf[4096];
    const ssize_t n = read(running->out_fd, buf, sizeof buf);
    if (n <= 0) break;
    relayed.append(buf, static_cast<size_t>(n));
  }
  for (absl::string_view line : absl::StrSplit(relayed, '\n')) {
    int64_t call = 0;
    if (absl::ConsumePrefix(&line, "answered ") &&
        absl::SimpleAtoi(line.substr(0, line.find(' ')), &call)) {
      answered = std::max(answered, call);
    }
  }

  std::vector<audit::JsonValue> head =
      CordonRunner::ReadAudit((*audit::LogReader::OrderFiles({log}, true))[0], nullptr);
  ASSERT_FALSE(head.empty());
  const pid_t init = static_cast<pid_t>(IntField(head[0], "host_pid"));
  ASSERT_GT(init, 0);
  EXPECT_TRUE(WaitProcessGone(init, absl::Seconds(10))) << "sandbox survived the launcher";

  // Reopening cuts a torn tail (reported as audit.recovered) and continues the chain.
  audit::AuditLogOptions reopen;
  reopen.path = log;
  reopen.rotate_bytes = 4096;
  {
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> reopened = audit::AuditLog::Open(reopen);
    ASSERT_TRUE(reopened.ok()) << reopened.status();
  }
  absl::StatusOr<std::vector<std::string>> files = audit::LogReader::OrderFiles({log}, true);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_GT(files->size(), 2u) << "the log never rotated";
  absl::StatusOr<audit::VerifyResult> verified =
      audit::AuditVerifier::Verify(*files, audit::VerifyOptions{});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;

  std::set<uint64_t> recorded;  // call numbers: keyctl's second argument
  for (const std::string& file : *files) {
    for (const audit::JsonValue& record : CordonRunner::ReadAudit(file, nullptr)) {
      if (StringField(record, "type") != "seccomp.violation") continue;
      EXPECT_EQ(StringField(record, "syscall"), "keyctl");
      EXPECT_FALSE(HasField(record, "suppressed")) << "a call was counted, not recorded";
      recorded.insert(ViolationArg(record, 1));
    }
  }
  for (int64_t call = 1; call <= answered; ++call) {
    EXPECT_TRUE(recorded.count(static_cast<uint64_t>(call)))
        << "call " << call << " was answered (the program saw " << answered
        << ") but has no record";
  }
  EXPECT_LE(recorded.size(), static_cast<size_t>(kCalls));
}

INSTANTIATE_TEST_SUITE_P(Durability, SigkillMidStreamTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Sync" : "Batch";
                         });

// Batch mode (the default): the background flusher's fdatasync fails on a disk that filled
// up, while the program makes no call that needs a record. Under --audit-on-failure kill
// (the default) cordon kills it at once rather than let it run on unaudited.
TEST(AuditRecords, FailedBackgroundFsyncKillsTheProgramPromptly) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<FailingDisk>> disk = FailingDisk::Create(dir.path());
  ASSERT_TRUE(disk.ok()) << disk.status();
  const std::string log = (*disk)->mount_point() + "/audit.jsonl";
  {
    // Created while the disk works, so opening the log needs no new block.
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(fsync(fd), 0);
    close(fd);
    const int dir_fd = open((*disk)->mount_point().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir_fd, 0);
    EXPECT_EQ(fsync(dir_fd), 0);
    close(dir_fd);
  }
  ASSERT_TRUE((*disk)->Fill().ok());
  RunOptions options;
  options.audit = false;
  options.timeout = absl::Seconds(30);  // the program pauses for 120 s
  options.args = {"--audit-log", log, "--", CordonRunner::Probe("sandbox_probe"), "pause"};
  RunResult r = CordonRunner::Run(options);
  EXPECT_FALSE(r.timed_out) << "the program ran on after the audit log's fdatasync failed";
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_THAT(r.err, ::testing::HasSubstr("audit log failed")) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr("fdatasync failed")) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr("killed the program because the audit log failed"))
      << r.err;
}

// A loaded plugin (`cordon call`): every record from plugin.spawn on names the sandbox's init
// in its plugin object, the broker's capability.use and the lifecycle records included;
// plugin.load comes before there is a sandbox.
TEST(AuditRecords, LoadedPluginRecordsCarryTheHostPid) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.File("bundle").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.File("data").c_str(), 0755), 0);
  ASSERT_FALSE(dir.Copy(BROKER_PROBE_PLUGIN, "bundle/plugin").empty());
  dir.Write("bundle/manifest.textproto",
            "name: \"broker-probe\"\nversion: \"0.1.0\"\nentry: \"plugin\"\n"
            "protocol { min: 1 max: 1 }\nlimits { call_timeout_ms: 5000 }\n"
            "capabilities { kind: \"fs.read\" target: \"/data\" }\n");
  dir.Write("data/hello.txt", "hello");
  std::ifstream default_profile(CordonRunner::ProfilePath("default"));
  std::stringstream profile;
  profile << default_profile.rdbuf()
          << "\ncapabilities {\n  fs { plugin_path: \"/data\" host_path: \"" << dir.File("data")
          << "\" read: true }\n}\n";
  RunOptions options;
  options.subcommand = {"call"};
  options.args = {"--profile",        dir.Write("profile.textproto", profile.str()),
                  "--input",          dir.Write("input", "/data/hello.txt"),
                  dir.File("bundle"), "read"};
  RunResult r = CordonRunner::Run(options);
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.out, "hello");
  ASSERT_TRUE(r.audit_error.empty()) << r.audit_error;
  const audit::JsonValue* spawn = r.Record("plugin.spawn");
  ASSERT_NE(spawn, nullptr) << r.audit_text;
  const int64_t host_pid = IntField(*spawn, "host_pid");
  ASSERT_GT(host_pid, 1);
  ASSERT_NE(r.Record("capability.use"), nullptr) << r.audit_text;
  std::set<std::string> types;
  for (const audit::JsonValue& record : r.audit) {
    const std::string type = StringField(record, "type");
    SCOPED_TRACE(type);
    const audit::JsonValue* plugin = record.Find("plugin");
    ASSERT_NE(plugin, nullptr) << r.audit_text;
    if (type == "plugin.load") {
      EXPECT_FALSE(HasField(*plugin, "host_pid"));
    } else {
      EXPECT_EQ(IntField(*plugin, "host_pid"), host_pid);
      types.insert(type);
    }
  }
  EXPECT_THAT(types, ::testing::IsSupersetOf(
                         {"plugin.spawn", "plugin.ready", "capability.use", "plugin.exit"}));
}

TEST(AuditRecords, SecondLauncherOnALockedLogRefusesToRun) {
  TempDir dir;
  const std::string log = dir.File("locked.jsonl");
  RunOptions first;
  first.audit = false;
  first.args = {"--audit-log", log, "--", CordonRunner::Probe("sandbox_probe"), "pause"};
  absl::StatusOr<RunningCordon> running = CordonRunner::Start(first);
  ASSERT_TRUE(running.ok()) << running.status();
  // Early ASSERT returns must not leave cordon running or its audit dir behind.
  absl::Cleanup finish = [&] { CordonRunner::Finish(&*running); };
  ASSERT_TRUE(CordonRunner::WaitForLine(*running, "paused", absl::Seconds(10)));
  RunOptions second;
  second.audit = false;
  second.args = {"--audit-log", log, "--", CordonRunner::Probe("sandbox_probe"), "hostname"};
  RunResult r = CordonRunner::Run(second);
  CordonRunner::Finish(&*running);
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "locked")) << r.err;
  EXPECT_EQ(r.out, "") << "the program ran without its audit log";
}

TEST(AuditRecords, SetupFailureAfterStartIsClosedByAnExitRecord) {
  // The exec step fails after plugin.start was written (a dynamic program under minimal).
  RunResult r =
      RunCordon({"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe"), "exit", "0"});
  ASSERT_EQ(r.exit_status, 125) << r.Describe();
  ASSERT_NE(r.Record("plugin.start"), nullptr) << r.Describe();
  ExpectNoLeftovers(r);
  // No plugin.start is left without an end.
  const audit::JsonValue* exit = r.Record("plugin.exit");
  ASSERT_NE(exit, nullptr) << r.audit_text;
  EXPECT_EQ(r.audit.size(), 2u) << r.audit_text;
  EXPECT_LT(IntField(*r.Record("plugin.start"), "seq"), IntField(*exit, "seq"));
  const audit::JsonValue* setup_failed = exit->Find("setup_failed");
  ASSERT_NE(setup_failed, nullptr) << r.audit_text;
  EXPECT_TRUE(setup_failed->bool_value());
  EXPECT_TRUE(absl::StrContains(StringField(*exit, "reason"), "execute the program"))
      << r.audit_text;
}

}  // namespace
}  // namespace cordon::integration
