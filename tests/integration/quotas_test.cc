// Exhaustion: every quota stops its bomb, is recorded as a quota.violation, and leaves no
// process or cgroup behind. Outer safety nets: each run sits in the harness's own cgroup with
// limits above the quota under test (OuterCgroup; rlimits where no cgroup can be had), each
// bomb bounds its own loop (forks, MiB, seconds), children of the fork bomb exit on their own
// (alarm), and the runner SIGKILLs cordon, whose death tears the sandbox down, when a run
// exceeds its timeout.
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "launcher/quota/cgroup_fs.h"
#include "tests/integration/temp_dir.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

RunResult RunBomb(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(30),
                  OuterLimits outer = {}) {
  RunOptions options;
  options.args = std::move(args);
  options.timeout = timeout;
  options.outer = outer;
  return CordonRunner::Run(options);
}

// The outer net for a bomb whose quota is `pids` tasks or `memory_bytes`: a few times the quota,
// far below what would hurt the machine.
OuterLimits OuterForPids(uint64_t pids) { return {.pids = 4 * pids + 16}; }
OuterLimits OuterForMemory(uint64_t memory_bytes) {
  return {.memory_bytes = 4 * memory_bytes + (64 << 20)};
}

const audit::JsonValue* Quota(const RunResult& r, const std::string& name) {
  for (const audit::JsonValue* q : r.Records("quota.violation")) {
    if (StringField(*q, "quota") == name) return q;
  }
  return nullptr;
}

// A fork bomb under --pids 8 that has hit the quota and now pauses (at most 30 s), left
// running in the background; the caller Finishes it.
absl::StatusOr<RunningCordon> StartPausedForkBomb() {
  RunOptions options;
  options.args = {"--pids", "8", "--", CordonRunner::Probe("quota_bomb"), "forks_then_pause", "64"};
  options.outer = OuterForPids(8);
  absl::StatusOr<RunningCordon> running = CordonRunner::Start(options);
  if (!running.ok()) return running.status();
  if (!CordonRunner::WaitForLine(*running, "paused", absl::Seconds(10))) {
    CordonRunner::Finish(&*running);
    return absl::DeadlineExceededError("the fork bomb never printed 'paused'");
  }
  return running;
}

// Waits until a quota.violation for `quota` is in the log of a run that is still going (no
// plugin.exit yet): inotify on the log, at most five seconds between two changes, so the record
// must come from the supervisor's periodic check, not from the exit.
::testing::AssertionResult AwaitQuotaRecordWhileRunning(const RunningCordon& running,
                                                        const std::string& quota) {
  const int watch = inotify_init1(IN_CLOEXEC);
  if (watch < 0) return ::testing::AssertionFailure() << "inotify_init1: " << errno;
  absl::Cleanup close_watch = [&] { close(watch); };
  if (inotify_add_watch(watch, running.audit_path.c_str(), IN_MODIFY) < 0) {
    return ::testing::AssertionFailure() << "inotify_add_watch: " << errno;
  }
  for (;;) {
    for (const audit::JsonValue& r : CordonRunner::ReadAudit(running.audit_path, nullptr)) {
      if (StringField(r, "type") == "plugin.exit") {
        return ::testing::AssertionFailure()
               << "the plugin ended before any " << quota << " record";
      }
      if (StringField(r, "type") == "quota.violation" && StringField(r, "quota") == quota) {
        return ::testing::AssertionSuccess();
      }
    }
    pollfd p{watch, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) {
      return ::testing::AssertionFailure() << "no " << quota << " record while the plugin ran";
    }
    char buf[1024];
    (void)!read(watch, buf, sizeof buf);
  }
}

TEST(Quotas, ForkBombStopsAtPidsQuota) {
  RunResult r = RunBomb({"--pids", "16", "--", CordonRunner::Probe("quota_bomb"), "forks", "2000"},
                        absl::Seconds(30), OuterForPids(16));
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
  absl::StatusOr<RunningCordon> running = StartPausedForkBomb();
  ASSERT_TRUE(running.ok()) << running.status();
  absl::Cleanup finish = [&] { CordonRunner::Finish(&*running); };
  ASSERT_TRUE(AwaitQuotaRecordWhileRunning(*running, "pids"));
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

// The harness's own net is really around the bomb: cordon runs in the outer cgroup, the
// plugin's cgroup sits below it, and the outer limit is the one the test asked for.
TEST(Quotas, BombsRunInsideTheHarnessOuterCgroup) {
  absl::StatusOr<RunningCordon> running = StartPausedForkBomb();
  ASSERT_TRUE(running.ok()) << running.status();
  absl::Cleanup finish = [&] { CordonRunner::Finish(&*running); };
  ASSERT_NE(running->outer, nullptr) << "no outer cgroup (tests run as root with v1 or v2)";
  std::string pids_dir;
  for (const std::string& dir : running->outer->dirs()) {
    if (absl::StrContains(dir, "/pids/") || absl::StrContains(dir, "/unified/")) pids_dir = dir;
  }
  ASSERT_FALSE(pids_dir.empty()) << "no pids hierarchy among the outer cgroup's directories";
  absl::StatusOr<std::string> pids_max = quota::cgroupfs::ReadFile(pids_dir + "/pids.max");
  ASSERT_TRUE(pids_max.ok()) << pids_max.status();
  EXPECT_EQ(absl::StripAsciiWhitespace(*pids_max), std::to_string(OuterForPids(8).pids));
  absl::StatusOr<std::vector<pid_t>> inside = quota::cgroupfs::ReadPids(pids_dir + "/cgroup.procs");
  ASSERT_TRUE(inside.ok()) << inside.status();
  EXPECT_THAT(*inside, ::testing::Contains(running->pid)) << "cordon is not in the outer cgroup";
  const audit::JsonValue* start = nullptr;
  std::vector<audit::JsonValue> records = CordonRunner::ReadAudit(running->audit_path, nullptr);
  for (const audit::JsonValue& r : records) {
    if (StringField(r, "type") == "plugin.start") start = &r;
  }
  ASSERT_NE(start, nullptr);
  const std::string backend = StringField(*start, "quota_backend");
  bool nested = false;
  for (const std::string& dir : running->outer->dirs()) {
    nested = nested || absl::StrContains(backend, dir + "/cordon/");
  }
  EXPECT_TRUE(nested) << "the plugin cgroup (" << backend << ") is not inside the outer net";
}

TEST(Quotas, MemoryBombIsOomKilled) {
  RunResult r =
      RunBomb({"--memory", "64M", "--", CordonRunner::Probe("quota_bomb"), "memory", "1024"},
              absl::Seconds(30), OuterForMemory(64 << 20));
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
                         CordonRunner::Probe("quota_bomb"), "fill", "/tmp/fill", "60"},
                        absl::Seconds(30), OuterForMemory(64 << 20));
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
  // observed: the rate the plugin got over its life, in percent like the limit (a spinner
  // gets about the limit, a little less for the start-up); detail: the throttled time.
  EXPECT_GE(IntField(*q, "observed"), 1) << r.audit_text;
  EXPECT_LE(IntField(*q, "observed"), 25) << r.audit_text;
  EXPECT_THAT(StringField(*q, "detail"), ::testing::MatchesRegex("throttled in [0-9]+ periods of "
                                                                 "100 ms, [0-9]+ ms in total"));
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
  // The launcher saw /tmp full (statfs on its tick or at exit) and recorded it, once.
  std::vector<const audit::JsonValue*> full;
  for (const audit::JsonValue* q : r.Records("quota.violation")) {
    if (StringField(*q, "quota") == "tmp_size") full.push_back(q);
  }
  ASSERT_EQ(full.size(), 1u) << r.Describe();
  EXPECT_EQ(IntField(*full[0], "limit"), 8 << 20);
  EXPECT_EQ(IntField(*full[0], "observed"), 8 << 20) << "a full tmpfs uses all its blocks";
  EXPECT_EQ(StringField(*full[0], "action"), "denied");
  ExpectNoLeftovers(r);
}

// A kill the launcher decided itself wins over a guessed quota kill: a seccomp kill (profile
// on_violation KILL) of a program that has used most of its CPU time is exit 159 with one
// line, and no cpu_time record, although SIGKILL near the CPU limit is what RLIMIT_CPU's hard
// limit looks like.
TEST(Quotas, SeccompKillNearTheCpuLimitIsNotACpuTimeKill) {
  TempDir dir;
  const std::string profile =
      EditedProfile(dir, "default", {{"on_violation: ERRNO_EPERM", "on_violation: KILL"}});
  RunResult r = RunBomb({"--profile", profile, "--cpu-time", "1", "--",
                         CordonRunner::Probe("quota_bomb"), "spin_then_mount", "600"});
  ASSERT_FALSE(r.timed_out) << r.Describe();
  ASSERT_FALSE(r.Line("spun").empty()) << "the probe did not reach the mount: " << r.Describe();
  EXPECT_EQ(r.Line("mount"), "") << "mount returned under a KILL profile";
  EXPECT_EQ(r.exit_status, 128 + SIGSYS) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "killed the program for a seccomp violation: mount"))
      << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "quota exceeded")) << "a second, wrong line: " << r.err;
  EXPECT_EQ(Quota(r, "cpu_time"), nullptr) << r.audit_text;
  const audit::JsonValue* exit = r.Record("plugin.exit");
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(StringField(*exit, "reason"), "seccomp violation: mount (x86_64)");
  ExpectNoLeftovers(r);
}

// Writing into /tmp without filling it is no quota hit.
TEST(Quotas, TmpWithRoomLeftHasNoTmpSizeRecord) {
  RunResult r = RunBomb(
      {"--tmp-size", "8M", "--", CordonRunner::Probe("quota_bomb"), "fill", "/tmp/fill", "4"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Field("fill", "bytes"), std::to_string(4 << 20)) << r.out;
  EXPECT_EQ(Quota(r, "tmp_size"), nullptr) << r.audit_text;
  ExpectNoLeftovers(r);
}

// /tmp filled while the plugin keeps running is recorded by the periodic check, before exit.
TEST(Quotas, FullTmpIsRecordedWhileThePluginRuns) {
  RunOptions options;
  const std::string script = "head -c 4194304 /dev/zero > /tmp/fill; echo filled; exec sleep 20";
  options.args = {"--tmp-size", "2M", "--", "/bin/sh", "-c", script};
  absl::StatusOr<RunningCordon> running = CordonRunner::Start(options);
  ASSERT_TRUE(running.ok()) << running.status();
  absl::Cleanup finish = [&] { CordonRunner::Finish(&*running); };
  ASSERT_TRUE(CordonRunner::WaitForLine(*running, "filled", absl::Seconds(10)));
  ASSERT_TRUE(AwaitQuotaRecordWhileRunning(*running, "tmp_size"));
  std::vector<const audit::JsonValue*> full;
  std::vector<audit::JsonValue> records = CordonRunner::ReadAudit(running->audit_path, nullptr);
  for (const audit::JsonValue& r : records) {
    if (StringField(r, "quota") == "tmp_size") full.push_back(&r);
  }
  ASSERT_EQ(full.size(), 1u);
  EXPECT_EQ(IntField(*full[0], "limit"), 2 << 20);
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
