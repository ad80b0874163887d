// Real cgroup v1 tests: they create cgroups below this process's own cgroups and run small
// bombs inside them. Each bomb is bounded three ways: its loop, the cgroup limit under test,
// and an rlimit set in the child as a backstop.
#include "launcher/quota/cgroup_v1_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/quota/cgroup_fs.h"
#include "launcher/quota/quota_test_support.h"

namespace cordon::quota {
namespace {

using ::testing::HasSubstr;
using testing::ScopedReaper;
using testing::TestChild;

constexpr uint64_t kMiB = 1024 * 1024;

std::unique_ptr<CgroupV1Backend> MakeV1(absl::string_view name, const QuotaLimits& limits) {
  absl::StatusOr<std::unique_ptr<PluginCgroup>> cg =
      PluginCgroup::Create({}, std::string_view(name.data(), name.size()), limits);
  if (!cg.ok()) {
    ADD_FAILURE() << cg.status();
    return nullptr;
  }
  auto* v1 = dynamic_cast<CgroupV1Backend*>(cg->get());
  if (v1 == nullptr) return nullptr;
  cg->release();
  return std::unique_ptr<CgroupV1Backend>(v1);
}

// False (the tests skip) without root or when Create would not pick cgroup v1 here.
bool HaveV1() {
  if (geteuid() != 0) return false;
  absl::StatusOr<std::vector<cgroupfs::Hierarchy>> h = cgroupfs::DiscoverHierarchies({});
  if (!h.ok()) return false;
  bool mem = false, pids = false;
  for (const auto& x : *h) {
    mem |= x.version == 1 && x.Has("memory");
    pids |= x.version == 1 && x.Has("pids");
  }
  if (!mem || !pids) return false;
  // A host where v2 is usable too would get v2 from Create; these tests are about v1.
  absl::StatusOr<std::unique_ptr<PluginCgroup>> probe = PluginCgroup::Create({}, "probe", {});
  return probe.ok() && (*probe)->cgroup_version() == 1;
}

#define REQUIRE_V1()                                                     \
  if (!HaveV1()) GTEST_SKIP() << "needs root and cgroup v1 memory+pids"; \
  ScopedReaper reaper

std::string IsEmpty(const PluginCgroup& cg) {
  absl::StatusOr<bool> e = cg.IsEmpty();
  if (!e.ok()) return std::string(e.status().message());
  return *e ? "yes" : "no";
}

// Waits on the event fd (bounded), as the supervisor's epoll loop would.
bool EventFires(PluginCgroup& cg, int timeout_ms) {
  absl::StatusOr<int> fd = cg.EventFd();
  if (!fd.ok()) return false;
  pollfd p{*fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

std::string ReadTrimmed(const std::string& path) {
  absl::StatusOr<std::string> s = cgroupfs::ReadFile(path);
  if (!s.ok()) return "<" + std::string(s.status().message()) + ">";
  return std::string(absl::StripAsciiWhitespace(*s));
}

TEST(CgroupV1BackendTest, CreateWritesLimitsAndAddProcessMovesChild) {
  REQUIRE_V1();
  std::unique_ptr<CgroupV1Backend> cg =
      MakeV1("limits test!", {.memory_bytes = 64 * kMiB, .pids = 16, .cpu_rate_percent = 50});
  ASSERT_NE(cg, nullptr);
  EXPECT_THAT(cg->Describe(), HasSubstr("cgroup v1 (memory,pids,cpu"));
  EXPECT_THAT(cg->Describe(), HasSubstr("/cordon/"));
  EXPECT_THAT(cg->Describe(), HasSubstr("-limits_test_"));
  EXPECT_EQ(cg->clone_into_fd(), -1);
  EXPECT_EQ(cg->cgroup_version(), 1);
  const std::string mem = cg->DirOf("memory");
  EXPECT_EQ(ReadTrimmed(mem + "/memory.limit_in_bytes"), absl::StrCat(64 * kMiB));
  if (cgroupfs::Exists(mem + "/memory.memsw.limit_in_bytes")) {
    EXPECT_EQ(ReadTrimmed(mem + "/memory.memsw.limit_in_bytes"), absl::StrCat(64 * kMiB));
  }
  EXPECT_EQ(ReadTrimmed(cg->DirOf("pids") + "/pids.max"), "16");
  EXPECT_EQ(ReadTrimmed(cg->DirOf("cpu") + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(ReadTrimmed(cg->DirOf("cpu") + "/cpu.cfs_period_us"), "100000");
  absl::StatusOr<uint64_t> oom_disabled =
      cgroupfs::ReadKey(mem + "/memory.oom_control", "oom_kill_disable");
  ASSERT_TRUE(oom_disabled.ok());
  EXPECT_EQ(*oom_disabled, 0u);

  TestChild child = TestChild::Start([] { return 0; });
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  for (const char* c : {"memory", "pids", "cpu", "freezer"}) {
    if (cg->DirOf(c).empty()) continue;
    EXPECT_EQ(ReadTrimmed(cg->DirOf(c) + "/cgroup.procs"), absl::StrCat(child.pid())) << c;
  }
  absl::StatusOr<std::string> own =
      cgroupfs::ReadFile(absl::StrCat("/proc/", child.pid(), "/cgroup"));
  ASSERT_TRUE(own.ok());
  EXPECT_THAT(*own, HasSubstr("/cordon/"));
  EXPECT_EQ(IsEmpty(*cg), "no");
  ASSERT_TRUE(child.Go());
  int status = child.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(IsEmpty(*cg), "yes");
}

TEST(CgroupV1BackendTest, MemoryBombIsOomKilledAndCounted) {
  REQUIRE_V1();
  std::unique_ptr<CgroupV1Backend> cg = MakeV1("membomb", {.memory_bytes = 32 * kMiB});
  ASSERT_NE(cg, nullptr);
  ASSERT_TRUE(cg->EventFd().ok()) << cg->EventFd().status();
  EXPECT_FALSE(EventFires(*cg, 0));
  TestChild child = TestChild::Start([] {
  // Backstop if the cgroup limit were not applied: the address space cap stops the loop.
#ifndef __SANITIZE_ADDRESS__  // ASan's shadow mappings alone exceed any sensible RLIMIT_AS
    rlimit as{512 * kMiB, 512 * kMiB};
    setrlimit(RLIMIT_AS, &as);
#endif
    for (int i = 0; i < 256; ++i) {  // at most 256 MiB, 8x the limit
      void* p = mmap(nullptr, kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return 2;
      memset(p, 0xa5, kMiB);
    }
    return 0;
  });
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  ASSERT_TRUE(child.Go());
  int status = child.Wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  absl::StatusOr<QuotaUsage> usage = cg->ReadUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_GE(usage->oom_kills, 1u);
  EXPECT_TRUE(EventFires(*cg, 5000));
  cg->DrainEvents();
  EXPECT_FALSE(EventFires(*cg, 0));
  EXPECT_GT(usage->memory_peak_bytes, 16 * kMiB);
  EXPECT_LE(usage->memory_peak_bytes, 32 * kMiB);
}

TEST(CgroupV1BackendTest, ForkBombIsRefusedByPidsMax) {
  REQUIRE_V1();
  std::unique_ptr<CgroupV1Backend> cg = MakeV1("forkbomb", {.pids = 8});
  ASSERT_NE(cg, nullptr);
  ASSERT_TRUE(cg->EventFd().ok()) << cg->EventFd().status();
  EXPECT_FALSE(EventFires(*cg, 0));
  TestChild child = TestChild::Start([] {
    // Root ignores RLIMIT_NPROC, but an unprivileged run of this test would be stopped by it.
    rlimit np{64, 64};
    setrlimit(RLIMIT_NPROC, &np);
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) != 0) return 3;
    int forked = 0;
    bool refused = false;
    for (int i = 0; i < 64; ++i) {  // bounded even if pids.max did nothing
      pid_t p = fork();
      if (p == 0) {
        close(hold[1]);
        char c;
        (void)!read(hold[0], &c, 1);  // lives until the bomb lets go
        _exit(0);
      }
      if (p < 0) {
        refused = errno == EAGAIN;
        break;
      }
      ++forked;
    }
    close(hold[1]);
    while (wait(nullptr) > 0) {
    }
    return refused ? 10 + forked : 1;
  });
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  ASSERT_TRUE(child.Go());
  int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  // The bomb itself counts against pids.max, so 7 children fit and the 8th fork fails.
  EXPECT_EQ(WEXITSTATUS(status), 10 + 7);
  absl::StatusOr<QuotaUsage> usage = cg->ReadUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_GE(usage->pids_max_hits, 1u);
  // No EventFires check here: v1 kernels count pids.events but do not notify it (v2 does),
  // so on v1 a refusal is found by reading the counters (docs/quotas.md).
}

TEST(CgroupV1BackendTest, CpuRateThrottlesAndUsageIsCounted) {
  REQUIRE_V1();
  std::unique_ptr<CgroupV1Backend> cg = MakeV1("spinner", {.cpu_rate_percent = 10});
  ASSERT_NE(cg, nullptr);
  if (cg->DirOf("cpuacct").empty()) GTEST_SKIP() << "no cpuacct hierarchy";
  TestChild child = TestChild::Start([] {
    rlimit cpu{2, 2};  // backstop: SIGXCPU after 2 s of CPU
    setrlimit(RLIMIT_CPU, &cpu);
    // 40 ms of CPU at 10 ms per 100 ms period cannot finish without being throttled. Counted
    // from here, after Go(), i.e. inside the cgroup: what the child spent before it was moved
    // is its own CPU time but not the cgroup's.
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    const long long start = t.tv_sec * 1000000000LL + t.tv_nsec;
    for (long i = 0; i < 1000000000L; ++i) {
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
      if (t.tv_sec * 1000000000LL + t.tv_nsec - start >= 40000000LL) return 0;
    }
    return 5;
  });
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  ASSERT_TRUE(child.Go());
  int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  absl::StatusOr<QuotaUsage> usage = cg->ReadUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_GE(usage->cpu_usage_ns, 40000000u);
  EXPECT_GE(usage->cpu_throttled_periods, 1u);
  EXPECT_GT(usage->cpu_throttled_ns, 0u);
}

TEST(CgroupV1BackendTest, KillAllKillsWholeTreeIncludingGrandchildren) {
  REQUIRE_V1();
  std::unique_ptr<CgroupV1Backend> cg = MakeV1("tree", {.pids = 16});
  ASSERT_NE(cg, nullptr);
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  const int wr = ready[1];
  TestChild child = TestChild::Start([wr] {
    // A forks B, B forks C; each reports its pid and then waits to be killed.
    for (int depth = 0; depth < 2; ++depth) {
      pid_t p = fork();
      if (p < 0) return 4;
      if (p > 0) break;
    }
    pid_t self = getpid();
    (void)!write(wr, &self, sizeof(self));
    while (true) pause();
  });
  close(ready[1]);
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  ASSERT_TRUE(child.Go());
  pid_t pids[3];
  size_t got = 0;
  while (got < sizeof(pids)) {
    ssize_t n = read(ready[0], reinterpret_cast<char*>(pids) + got, sizeof(pids) - got);
    ASSERT_GT(n, 0);
    got += static_cast<size_t>(n);
  }
  close(ready[0]);
  absl::StatusOr<QuotaUsage> usage = cg->ReadUsage();
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->pids_current, 3u);
  EXPECT_EQ(IsEmpty(*cg), "no");

  absl::Status killed = cg->KillAll();
  ASSERT_TRUE(killed.ok()) << killed;
  EXPECT_EQ(IsEmpty(*cg), "yes");
  // Reap in tree order: reaping a parent hands its children to us (we are the subreaper).
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  int seen = 0;
  for (int i = 0; i < 2; ++i) {
    int st = 0;
    pid_t r = waitpid(-1, &st, 0);
    ASSERT_GT(r, 0);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << r;
    for (pid_t p : pids) seen += (p == r);
  }
  EXPECT_EQ(seen, 2);
}

TEST(CgroupV1BackendTest, RemoveAndDestructorLeaveNothing) {
  REQUIRE_V1();
  std::vector<std::string> dirs;
  {
    std::unique_ptr<CgroupV1Backend> cg = MakeV1("remove", {.pids = 4});
    ASSERT_NE(cg, nullptr);
    for (const char* c : {"memory", "pids", "cpu", "cpuacct", "freezer"}) {
      if (!cg->DirOf(c).empty()) dirs.push_back(cg->DirOf(c));
    }
    ASSERT_GE(dirs.size(), 2u);
    for (const std::string& d : dirs) EXPECT_TRUE(cgroupfs::Exists(d)) << d;
    ASSERT_TRUE(cg->Remove().ok());
    for (const std::string& d : dirs) EXPECT_FALSE(cgroupfs::Exists(d)) << d;
    EXPECT_TRUE(cg->Remove().ok());  // idempotent
    EXPECT_FALSE(cg->AddProcess(getpid()).ok());
  }
  // The destructor kills a process still inside before removing the directories.
  TestChild child = TestChild::Start([] { return 0; });
  ASSERT_GT(child.pid(), 0);
  dirs.clear();
  {
    std::unique_ptr<CgroupV1Backend> cg = MakeV1("dtor", {});
    ASSERT_NE(cg, nullptr);
    ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
    dirs.push_back(cg->DirOf("memory"));
  }
  EXPECT_FALSE(cgroupfs::Exists(dirs[0]));
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

// The v1 paths this machine's layout does not exercise: co-mounted cpu,cpuacct, a mount whose
// root is not "/", no freezer, a disabled OOM killer. Fake tree, no root needed.
class FakeCgroupV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    const std::string& t = tmp_.path();
    for (const char* d : {"/memory", "/pids", "/cpu,cpuacct", "/memory/me"}) {
      ASSERT_EQ(mkdir((t + d).c_str(), 0755), 0) << d;
    }
    for (const char* d : {"/memory/me", "/pids", "/cpu,cpuacct"}) Populate(t + d);
    Put(t + "/mountinfo",
        absl::StrCat("35 31 0:32 /ns ", t, "/memory rw - cgroup cgroup rw,memory\n",
                     "39 31 0:36 / ", t, "/pids rw - cgroup cgroup rw,pids\n", "32 31 0:29 / ", t,
                     "/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"));
    Put(t + "/cgroup", "8:pids:/\n4:memory:/ns/me\n2:cpu,cpuacct:/\n0::/\n");
    options_.mountinfo_path = t + "/mountinfo";
    options_.proc_self_cgroup_path = t + "/cgroup";
    options_.on_mkdir_for_testing = [this](const std::string& dir) { Populate(dir); };
    options_.before_rmdir_for_testing = [](const std::string& dir) {
      for (const char* f : kFiles) unlink((dir + "/" + f).c_str());
    };
  }

  static constexpr const char* kFiles[] = {"cgroup.procs",
                                           "tasks",
                                           "memory.limit_in_bytes",
                                           "memory.memsw.limit_in_bytes",
                                           "memory.oom_control",
                                           "memory.failcnt",
                                           "memory.max_usage_in_bytes",
                                           "pids.max",
                                           "pids.events",
                                           "cpu.cfs_period_us",
                                           "cpu.cfs_quota_us",
                                           "cpu.stat",
                                           "cpuacct.usage"};

  void Populate(const std::string& dir) {
    for (const char* f : kFiles) Put(dir + "/" + f, "");
    Put(dir + "/memory.oom_control", oom_control_);
    Put(dir + "/pids.max", "max\n");
  }

  static void Put(const std::string& path, absl::string_view content) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    close(fd);
  }

  testing::TempDir tmp_;
  CgroupOptions options_;
  std::string oom_control_ = "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n";
};

TEST_F(FakeCgroupV1Test, CoMountedHierarchiesAndMountRootsResolve) {
  absl::StatusOr<std::unique_ptr<PluginCgroup>> cg = PluginCgroup::Create(
      options_, "p", {.memory_bytes = 1 << 20, .pids = 5, .cpu_rate_percent = 250});
  ASSERT_TRUE(cg.ok()) << cg.status();
  auto* v1 = dynamic_cast<CgroupV1Backend*>(cg->get());
  ASSERT_NE(v1, nullptr);
  const std::string& t = tmp_.path();
  // /ns is the memory mount's root, so /ns/me lives at <mount>/me.
  EXPECT_EQ(v1->DirOf("memory").rfind(t + "/memory/me/cordon/", 0), 0u) << v1->DirOf("memory");
  EXPECT_EQ(v1->DirOf("cpu"), v1->DirOf("cpuacct"));
  EXPECT_EQ(v1->DirOf("freezer"), "");
  EXPECT_THAT(v1->Describe(),
              HasSubstr("cgroup v1 (memory,pids,cpu,cpuacct) " + t + "/memory/me/cordon/"));
  EXPECT_EQ(ReadTrimmed(v1->DirOf("memory") + "/memory.limit_in_bytes"), "1048576");
  EXPECT_EQ(ReadTrimmed(v1->DirOf("memory") + "/memory.memsw.limit_in_bytes"), "1048576");
  EXPECT_EQ(ReadTrimmed(v1->DirOf("memory") + "/memory.oom_control"), "0");  // re-enabled
  EXPECT_EQ(ReadTrimmed(v1->DirOf("pids") + "/pids.max"), "5");
  EXPECT_EQ(ReadTrimmed(v1->DirOf("cpu") + "/cpu.cfs_quota_us"), "250000");
  // Without a freezer, KillAll still works (nothing to kill here) and Remove cleans up.
  EXPECT_TRUE((*cg)->KillAll().ok());
  const std::string mem = v1->DirOf("memory");
  ASSERT_TRUE((*cg)->Remove().ok());
  EXPECT_FALSE(cgroupfs::Exists(mem));
}

TEST_F(FakeCgroupV1Test, ReadUsageParsesV1Files) {
  absl::StatusOr<std::unique_ptr<PluginCgroup>> cg = PluginCgroup::Create(options_, "p", {});
  ASSERT_TRUE(cg.ok()) << cg.status();
  auto* v1 = dynamic_cast<CgroupV1Backend*>(cg->get());
  ASSERT_NE(v1, nullptr);
  Put(v1->DirOf("memory") + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  Put(v1->DirOf("memory") + "/memory.failcnt", "2\n");
  Put(v1->DirOf("memory") + "/memory.max_usage_in_bytes", "777\n");
  Put(v1->DirOf("pids") + "/pids.events", "max 9\n");
  Put(v1->DirOf("cpuacct") + "/cpuacct.usage", "123456\n");
  Put(v1->DirOf("cpu") + "/cpu.stat", "nr_periods 5\nnr_throttled 2\nthrottled_time 999\n");
  absl::StatusOr<QuotaUsage> u = (*cg)->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->oom_kills, 3u);
  EXPECT_EQ(u->memory_max_hits, 2u);
  EXPECT_EQ(u->memory_peak_bytes, 777u);
  EXPECT_EQ(u->pids_max_hits, 9u);
  EXPECT_EQ(u->cpu_usage_ns, 123456u);
  EXPECT_EQ(u->cpu_throttled_periods, 2u);
  EXPECT_EQ(u->cpu_throttled_ns, 999u);
  // A pid in "tasks" makes the cgroup non-empty.
  Put(v1->DirOf("pids") + "/tasks", "4242\n");
  EXPECT_EQ(IsEmpty(**cg), "no");
  Put(v1->DirOf("pids") + "/tasks", "");
}

TEST_F(FakeCgroupV1Test, MissingPidsHierarchyIsExplained) {
  Put(tmp_.path() + "/cgroup", "4:memory:/ns/me\n2:cpu,cpuacct:/\n");
  absl::StatusOr<std::unique_ptr<PluginCgroup>> cg = PluginCgroup::Create(options_, "p", {});
  ASSERT_FALSE(cg.ok());
  EXPECT_EQ(cg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(cg.status().message(), HasSubstr("controller(s) pids"));
  EXPECT_FALSE(cgroupfs::Exists(tmp_.path() + "/memory/me/cordon/x"));
}

}  // namespace
}  // namespace cordon::quota
