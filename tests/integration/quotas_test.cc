// Exhaustion: every quota stops its bomb, is recorded as a quota.violation, and leaves no
// process or cgroup behind. Outer safety nets: each bomb bounds its own loop (forks, MiB,
// seconds), children of the fork bomb exit on their own (alarm), and the runner SIGKILLs
// cordon, whose death tears the sandbox down, when a run exceeds its timeout.
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/cleanup/cleanup.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

RunResult RunBomb(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(30)) {
  RunOptions options;
  options.args = std::move(args);
  options.timeout = timeout;
  return CordonRunner::Run(options);
}

const audit::JsonValue* Quota(const RunResult& r, const std::string& name) {
  for (const audit::JsonValue* q : r.Records("quota.violation")) {
    if (StringField(*q, "quota") == name) return q;
  }
  return nullptr;
}

TEST(Quotas, ForkBombStopsAtPidsQuota) {
  RunResult r = RunBomb({"--pids", "16", "--", CordonRunner::Probe("quota_bomb"), "forks", "2000"});
  ASSERT_FALSE(r.timed_out) << r.Describe();
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  // 16 tasks: the init, the bomb and at most 14 children.
  EXPECT_EQ(r.Field("forks", "errno"), "EAGAIN") << r.out;
  std::string made = r.Field("forks", "made");
  ASSERT_FALSE(made.empty()) << r.out;
  EXPECT_LE(std::stoi(made), 14);
  EXPECT_GE(std::stoi(made), 1);
  const audit::JsonValue* q = Quota(r, "pids");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(IntField(*q, "limit"), 16);
  EXPECT_EQ(StringField(*q, "action"), "denied");
  ExpectNoLeftovers(r);
}

// A pids refusal is recorded while the plugin keeps running (the supervisor reads the
// counters at least once a second), not only when it exits; the exit adds no second record.
TEST(Quotas, PidsRefusalIsRecordedWhileThePluginRuns) {
  RunOptions options;
  options.args = {"--pids", "8", "--", CordonRunner::Probe("quota_bomb"), "forks_then_pause", "64"};
  absl::StatusOr<RunningCordon> running = CordonRunner::Start(options);
  ASSERT_TRUE(running.ok()) << running.status();
  absl::Cleanup finish = [&] { CordonRunner::Finish(&*running); };
  ASSERT_TRUE(CordonRunner::WaitForLine(*running, "paused", absl::Seconds(10)));
  const int watch = inotify_init1(IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  absl::Cleanup close_watch = [&] { close(watch); };
  ASSERT_GE(inotify_add_watch(watch, running->audit_path.c_str(), IN_MODIFY), 0);
  auto pids_records = [&] {
    size_t n = 0;
    for (const audit::JsonValue& r : CordonRunner::ReadAudit(running->audit_path, nullptr)) {
      if (StringField(r, "type") == "quota.violation" && StringField(r, "quota") == "pids") ++n;
      EXPECT_NE(StringField(r, "type"), "plugin.exit") << "the plugin should still be running";
    }
    return n;
  };
  // Bounded by the poll timeout: the record must come within a few seconds, not at exit.
  while (pids_records() == 0) {
    pollfd p{watch, POLLIN, 0};
    ASSERT_GT(poll(&p, 1, 5000), 0) << "no pids record while the plugin ran";
    char buf[1024];
    (void)!read(watch, buf, sizeof buf);
  }
  ASSERT_EQ(kill(running->pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(running->pid, &status, 0), running->pid);
  running->pid = -1;
  std::vector<audit::JsonValue> records = CordonRunner::ReadAudit(running->audit_path, nullptr);
  size_t pids = 0;
  bool exited = false;
  for (const audit::JsonValue& r : records) {
    if (StringField(r, "type") == "quota.violation" && StringField(r, "quota") == "pids") {
      ++pids;
      EXPECT_FALSE(exited) << "recorded after the exit";
    }
    exited = exited || StringField(r, "type") == "plugin.exit";
  }
  EXPECT_TRUE(exited);
  EXPECT_EQ(pids, 1u) << "the refusals were recorded twice (while running and at exit)";
}

TEST(Quotas, MemoryBombIsOomKilled) {
  RunResult r =
      RunBomb({"--memory", "64M", "--", CordonRunner::Probe("quota_bomb"), "memory", "1024"});
  ASSERT_FALSE(r.timed_out) << r.Describe();
  EXPECT_EQ(r.exit_status, 124) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "cordon run: killed the program: quota exceeded: memory"))
      << r.err;
  EXPECT_EQ(r.Line("memory mb=1024"), "") << "the bomb got all it asked for";
  const audit::JsonValue* q = Quota(r, "memory");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(IntField(*q, "limit"), 64 << 20);
  EXPECT_EQ(StringField(*q, "action"), "killed");
  const audit::JsonValue* exit = r.Record("plugin.exit");
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(IntField(*exit, "signal"), SIGKILL);
  EXPECT_LE(IntField(*exit, "peak_memory_bytes"), 64 << 20);
  EXPECT_TRUE(absl::StrContains(StringField(*exit, "reason"), "memory")) << r.audit_text;
  ExpectNoLeftovers(r);
}

// tmpfs pages belong to the writer's memory cgroup: a big /tmp is no way around --memory.
TEST(Quotas, TmpfsDataCountsAgainstTheMemoryQuota) {
  RunResult r = RunBomb({"--memory", "16M", "--tmp-size", "64M", "--file-size", "128M", "--",
                         CordonRunner::Probe("quota_bomb"), "fill", "/tmp/fill", "60"});
  ASSERT_FALSE(r.timed_out) << r.Describe();
  EXPECT_EQ(r.exit_status, 124) << r.Describe();
  EXPECT_EQ(r.Line("fill"), "") << "wrote past the memory quota: " << r.out;
  const audit::JsonValue* q = Quota(r, "memory");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(IntField(*q, "limit"), 16 << 20);
  ExpectNoLeftovers(r);
}

// One CPU-spin run shared by the tests below (it costs a second or more of CPU).
class CpuTimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    result_ = new RunResult(RunBomb({"--profile", "minimal", "--cpu-time", "1", "--",
                                     CordonRunner::Probe("quota_bomb", true), "spin", "20"}));
  }
  static void TearDownTestSuite() {
    delete result_;
    result_ = nullptr;
  }
  static RunResult* result_;
};
RunResult* CpuTimeTest::result_ = nullptr;

TEST_F(CpuTimeTest, SpinGetsSigxcpuAndIsRecorded) {
  const RunResult& r = *result_;
  ASSERT_FALSE(r.timed_out) << r.Describe();
  EXPECT_EQ(r.exit_status, 124) << r.Describe();
  EXPECT_EQ(r.Line("spin"), "") << "the spin ran to its end";
  EXPECT_TRUE(absl::StrContains(r.err, "cordon run: killed the program: quota exceeded: cpu_time"))
      << r.err;
  const audit::JsonValue* q = Quota(r, "cpu_time");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(IntField(*q, "limit"), 1000) << "cpu_time is recorded in milliseconds";
  EXPECT_EQ(StringField(*q, "action"), "killed");
  const audit::JsonValue* exit = r.Record("plugin.exit");
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(IntField(*exit, "signal"), SIGXCPU);
  ExpectNoLeftovers(r);
}

// RLIMIT_CPU is enforced on tick-sampled user+system time, while rusage and cpuacct give the
// exact runtime, so the recorded CPU time sits near the limit, not exactly on it (on a loaded
// machine, up to 10% below). A record far below the limit (more than the launcher's 500 ms
// margin) would mean the launcher claimed a quota kill without evidence.
TEST_F(CpuTimeTest, ObservedCpuTimeIsNearTheLimit) {
  const RunResult& r = *result_;
  const audit::JsonValue* q = Quota(r, "cpu_time");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_GE(IntField(*q, "observed"), 500) << r.Describe();
  EXPECT_LE(IntField(*q, "observed"), 3000) << r.Describe();
}

TEST(Quotas, SpinIgnoringSigxcpuIsKilledAtTheHardLimit) {
  RunResult r = RunBomb({"--profile", "minimal", "--cpu-time", "1", "--",
                         CordonRunner::Probe("quota_bomb", true), "stubborn_spin", "25"},
                        absl::Seconds(40));
  ASSERT_FALSE(r.timed_out) << r.Describe();
  EXPECT_EQ(r.exit_status, 124) << r.Describe();
  EXPECT_EQ(r.Line("spin"), "") << "the spin ran to its end";
  const audit::JsonValue* exit = r.Record("plugin.exit");
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(IntField(*exit, "signal"), SIGKILL);
  const audit::JsonValue* q = Quota(r, "cpu_time");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(StringField(*q, "action"), "killed");
  ExpectNoLeftovers(r);
}

TEST(Quotas, CpuRateThrottlesWithoutKilling) {
  // 10% of one core for one second of wall time: about 100 ms of CPU, never a kill.
  RunResult r = RunBomb({"--cpu-rate", "10", "--", CordonRunner::Probe("quota_bomb"), "spin", "1"});
  ASSERT_FALSE(r.timed_out) << r.Describe();
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  std::string cpu = r.Field("spin", "cpu_ms");
  ASSERT_FALSE(cpu.empty()) << r.out;
  EXPECT_LT(std::stoll(cpu), 400) << "not throttled to 10%";
  const audit::JsonValue* q = Quota(r, "cpu_rate");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(IntField(*q, "limit"), 10);
  EXPECT_EQ(StringField(*q, "action"), "throttled");
  ExpectNoLeftovers(r);
}

TEST(Quotas, WallTimeWatchdogKillsASleeper) {
  const absl::Time start = absl::Now();
  RunResult r =
      RunBomb({"--wall-time", "500ms", "--", CordonRunner::Probe("quota_bomb"), "sleep", "20"});
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(r.timed_out) << r.Describe();
  EXPECT_EQ(r.exit_status, 124) << r.Describe();
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_EQ(r.Line("slept"), "");
  EXPECT_TRUE(absl::StrContains(r.err, "cordon run: killed the program: quota exceeded: wall_time"))
      << r.err;
  const audit::JsonValue* q = Quota(r, "wall_time");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(IntField(*q, "limit"), 500);
  EXPECT_GE(IntField(*q, "observed"), 500);
  const audit::JsonValue* exit = r.Record("plugin.exit");
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(IntField(*exit, "signal"), SIGKILL);
  EXPECT_GE(IntField(*exit, "wall_ms"), 500);
  ExpectNoLeftovers(r);
}

TEST(Quotas, TmpfsFillStopsAtItsSizeWithEnospc) {
  const std::string name = "/tmp/cordon-integ-fill-" + std::to_string(getpid());
  RunResult r =
      RunBomb({"--tmp-size", "8M", "--", CordonRunner::Probe("quota_bomb"), "fill", name, "256"});
  ASSERT_FALSE(r.timed_out) << r.Describe();
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Field("fill", "errno"), "ENOSPC") << r.out;
  std::string bytes = r.Field("fill", "bytes");
  ASSERT_FALSE(bytes.empty());
  EXPECT_LE(std::stoll(bytes), 8ll << 20);
  EXPECT_GE(std::stoll(bytes), 7ll << 20);
  // The sandbox's /tmp is its own tmpfs: nothing reached the host's disk.
  struct stat st;
  EXPECT_NE(stat(name.c_str(), &st), 0) << name << " appeared on the host";
  ExpectNoLeftovers(r);
}

TEST(Quotas, OversizedFileGetsSigxfsz) {
  RunResult r = RunBomb({"--file-size", "1M", "--", CordonRunner::Probe("quota_bomb"), "bigfile",
                         "/tmp/big", "4194304"});
  ASSERT_FALSE(r.timed_out) << r.Describe();
  EXPECT_EQ(r.exit_status, 124) << r.Describe();
  EXPECT_EQ(r.Line("bigfile"), "") << "the write loop finished: " << r.out;
  EXPECT_TRUE(absl::StrContains(r.err, "cordon run: killed the program: quota exceeded: file_size"))
      << r.err;
  const audit::JsonValue* q = Quota(r, "file_size");
  ASSERT_NE(q, nullptr) << r.Describe();
  EXPECT_EQ(IntField(*q, "limit"), 1 << 20);
  EXPECT_EQ(StringField(*q, "action"), "killed");
  const audit::JsonValue* exit = r.Record("plugin.exit");
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(IntField(*exit, "signal"), SIGXFSZ);
  ExpectNoLeftovers(r);
}

}  // namespace
}  // namespace cordon::integration
