// cgroup v2 paths this machine cannot run for real (its v2 hierarchy has no memory/pids/cpu),
// tested against a fake cgroupfs: a temp dir with a mountinfo, a /proc/self/cgroup and the
// control files the kernel would create, populated through the mkdir/rmdir test hooks.
#include "launcher/quota/cgroup_v2_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/quota/cgroup_fs.h"
#include "launcher/quota/quota_test_support.h"
#include "launcher/quota/stale_cgroups.h"

namespace cordon::quota {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

void Put(const std::string& path, absl::string_view content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
}

std::string Get(const std::string& path) {
  absl::StatusOr<std::string> s = cgroupfs::ReadFile(path);
  if (!s.ok()) return absl::StrCat("<", s.status().message(), ">");
  return std::string(absl::StripAsciiWhitespace(*s));
}

class FakeCgroupV2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    root_ = tmp_.path() + "/sys/fs/cgroup";
    ASSERT_EQ(mkdir((tmp_.path() + "/sys").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((tmp_.path() + "/sys/fs").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    Populate(root_);
    parent_ = root_ + "/user.slice";
    ASSERT_EQ(mkdir(parent_.c_str(), 0755), 0);
    Populate(parent_);
    Put(parent_ + "/cgroup.procs", absl::StrCat(getpid(), "\n"));
    Put(tmp_.path() + "/mountinfo",
        absl::StrCat("25 30 0:22 / /sys rw - sysfs sysfs rw\n", "31 25 0:26 / ", root_,
                     " rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"));
    Put(tmp_.path() + "/cgroup", "0::/user.slice\n");
    options_.mountinfo_path = tmp_.path() + "/mountinfo";
    options_.proc_self_cgroup_path = tmp_.path() + "/cgroup";
    options_.on_mkdir_for_testing = [this](const std::string& dir) { Populate(dir); };
    options_.before_rmdir_for_testing = [](const std::string& dir) {
      DIR* d = opendir(dir.c_str());
      if (d == nullptr) return;
      while (dirent* e = readdir(d)) {
        if (e->d_type == DT_REG) unlinkat(dirfd(d), e->d_name, 0);
      }
      closedir(d);
    };
    options_.kill_timeout_ms = 200;
  }

  // What the kernel puts in a new cgroup (abridged to what cordon touches).
  void Populate(const std::string& dir) {
    Put(dir + "/cgroup.controllers", controllers_);
    Put(dir + "/cgroup.subtree_control", "");
    Put(dir + "/cgroup.procs", "");
    Put(dir + "/cgroup.events", "populated 0\nfrozen 0\n");
    Put(dir + "/cgroup.freeze", "0\n");
    if (with_kill_) Put(dir + "/cgroup.kill", "");
    Put(dir + "/memory.max", "max\n");
    Put(dir + "/memory.swap.max", "max\n");
    Put(dir + "/memory.oom.group", "0\n");
    Put(dir + "/memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
    Put(dir + "/memory.peak", "0\n");
    Put(dir + "/memory.current", "0\n");
    Put(dir + "/pids.max", "max\n");
    Put(dir + "/pids.events", "max 0\n");
    Put(dir + "/pids.current", "0\n");
    Put(dir + "/cpu.max", "max 100000\n");
    Put(dir + "/cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n");
  }

  std::unique_ptr<PluginCgroup> MustCreate(const QuotaLimits& limits) {
    absl::StatusOr<std::unique_ptr<PluginCgroup>> cg =
        PluginCgroup::Create(options_, "fake", limits);
    EXPECT_TRUE(cg.ok()) << cg.status();
    return cg.ok() ? std::move(*cg) : nullptr;
  }

  testing::TempDir tmp_;
  std::string root_;
  std::string parent_;
  std::string controllers_ = "cpuset cpu io memory hugetlb pids rdma misc\n";
  bool with_kill_ = true;
  CgroupOptions options_;
};

TEST_F(FakeCgroupV2Test, CreateEnablesControllersMovesLauncherAndWritesLimits) {
  std::unique_ptr<PluginCgroup> cg =
      MustCreate({.memory_bytes = 32 << 20, .pids = 8, .cpu_rate_percent = 150});
  ASSERT_NE(cg, nullptr);
  auto* v2 = dynamic_cast<CgroupV2Backend*>(cg.get());
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(cg->cgroup_version(), 2);
  EXPECT_THAT(cg->Describe(), HasSubstr("cgroup v2 (memory,pids,cpu) " + parent_ + "/cordon/"));
  // The parent held only us, so we moved into a leaf before enabling controllers there.
  EXPECT_EQ(Get(parent_ + "/cordon-launcher/cgroup.procs"), absl::StrCat(getpid()));
  EXPECT_EQ(Get(parent_ + "/cgroup.subtree_control"), "+memory +pids +cpu");
  EXPECT_EQ(Get(parent_ + "/cordon/cgroup.subtree_control"), "+memory +pids +cpu");
  const std::string& dir = v2->dir();
  EXPECT_EQ(dir.rfind(parent_ + "/cordon/" + absl::StrCat(getpid()) + ".", 0), 0u) << dir;
  EXPECT_EQ(Get(dir + "/memory.max"), "33554432");
  EXPECT_EQ(Get(dir + "/memory.swap.max"), "0");
  EXPECT_EQ(Get(dir + "/memory.oom.group"), "1");
  EXPECT_EQ(Get(dir + "/pids.max"), "8");
  EXPECT_EQ(Get(dir + "/cpu.max"), "150000 100000");

  struct stat st;
  ASSERT_GE(cg->clone_into_fd(), 0);
  ASSERT_EQ(fstat(cg->clone_into_fd(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(fcntl(cg->clone_into_fd(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  ASSERT_TRUE(cg->AddProcess(4242).ok());
  EXPECT_EQ(Get(dir + "/cgroup.procs"), "4242");
}

TEST_F(FakeCgroupV2Test, SecondPluginAfterLauncherMovedUsesSameParent) {
  std::unique_ptr<PluginCgroup> first = MustCreate({});
  ASSERT_NE(first, nullptr);
  // What /proc/self/cgroup now says, after the move into the launcher leaf.
  Put(tmp_.path() + "/cgroup", "0::/user.slice/cordon-launcher\n");
  Put(parent_ + "/cgroup.procs", "");
  Put(parent_ + "/cordon-launcher/cgroup.procs", absl::StrCat(getpid(), "\n"));
  std::unique_ptr<PluginCgroup> second = MustCreate({});
  ASSERT_NE(second, nullptr);
  EXPECT_THAT(second->Describe(), HasSubstr(" " + parent_ + "/cordon/"));
  EXPECT_FALSE(cgroupfs::Exists(parent_ + "/cordon-launcher/cordon-launcher"));
  EXPECT_FALSE(cgroupfs::Exists(parent_ + "/cordon-launcher/cordon"));
  // The sweeper looks in the same place and keeps both (we are alive).
  absl::StatusOr<std::vector<std::string>> removed = RemoveStaleCgroups(options_);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(removed->empty());
}

TEST_F(FakeCgroupV2Test, UnlimitedLeavesDefaultsAndCpuOptional) {
  controllers_ = "memory pids\n";
  Populate(parent_);
  Put(parent_ + "/cgroup.procs", "");
  std::unique_ptr<PluginCgroup> cg = MustCreate({});
  ASSERT_NE(cg, nullptr);
  const std::string dir = dynamic_cast<CgroupV2Backend*>(cg.get())->dir();
  EXPECT_EQ(Get(dir + "/memory.max"), "max");
  EXPECT_EQ(Get(dir + "/pids.max"), "max");
  EXPECT_EQ(Get(dir + "/cpu.max"), "max 100000");
  EXPECT_EQ(Get(parent_ + "/cgroup.subtree_control"), "+memory +pids");
  // An empty parent needs no launcher leaf.
  EXPECT_FALSE(cgroupfs::Exists(parent_ + "/cordon-launcher"));
}

TEST_F(FakeCgroupV2Test, AlreadyDelegatedControllersAreNotRewritten) {
  Put(parent_ + "/cgroup.subtree_control", "cpu memory pids\n");
  std::unique_ptr<PluginCgroup> cg = MustCreate({.pids = 3});
  ASSERT_NE(cg, nullptr);
  EXPECT_EQ(Get(parent_ + "/cgroup.subtree_control"), "cpu memory pids");
  EXPECT_FALSE(cgroupfs::Exists(parent_ + "/cordon-launcher"));
}

TEST_F(FakeCgroupV2Test, MissingControllersFailWithExplanation) {
  controllers_ = "hugetlb\n";  // what this machine's /sys/fs/cgroup/unified offers
  Populate(parent_);
  absl::StatusOr<std::unique_ptr<PluginCgroup>> cg = PluginCgroup::Create(options_, "x", {});
  ASSERT_FALSE(cg.ok());
  EXPECT_EQ(cg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(cg.status().message(), HasSubstr("offers 'hugetlb' but cordon needs memory,pids"));
  EXPECT_THAT(cg.status().message(), HasSubstr("cgroup v1: no mounted hierarchy"));
  EXPECT_THAT(cg.status().message(), HasSubstr("rlimits"));
  EXPECT_FALSE(cgroupfs::Exists(parent_ + "/cordon"));
}

TEST_F(FakeCgroupV2Test, CpuRequiredOnlyWhenRateSet) {
  controllers_ = "memory pids\n";
  Populate(parent_);
  absl::StatusOr<std::unique_ptr<PluginCgroup>> cg =
      PluginCgroup::Create(options_, "x", {.cpu_rate_percent = 10});
  ASSERT_FALSE(cg.ok());
  EXPECT_THAT(cg.status().message(), HasSubstr("needs cpu"));
}

TEST_F(FakeCgroupV2Test, ParentWithOtherProcessesIsRefused) {
  Put(parent_ + "/cgroup.procs", absl::StrCat(getpid(), "\n1\n"));
  absl::StatusOr<std::unique_ptr<PluginCgroup>> cg = PluginCgroup::Create(options_, "x", {});
  ASSERT_FALSE(cg.ok());
  EXPECT_EQ(cg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(cg.status().message(), HasSubstr("Delegate=yes"));
  EXPECT_EQ(Get(parent_ + "/cgroup.subtree_control"), "");
}

TEST_F(FakeCgroupV2Test, ConfiguredParentIsUsedAndNeverMovesUs) {
  const std::string slice = root_ + "/cordon.slice";
  ASSERT_EQ(mkdir(slice.c_str(), 0755), 0);
  Populate(slice);
  options_.parent_override = "/cordon.slice";
  std::unique_ptr<PluginCgroup> cg = MustCreate({.memory_bytes = 1 << 20});
  ASSERT_NE(cg, nullptr);
  EXPECT_THAT(cg->Describe(), HasSubstr(slice + "/cordon/"));
  EXPECT_EQ(Get(slice + "/cgroup.subtree_control"), "+memory +pids +cpu");
  EXPECT_EQ(Get(parent_ + "/cgroup.subtree_control"), "");
  // A configured parent holding us is an error, not a reason to move.
  cg.reset();
  Put(slice + "/cgroup.procs", absl::StrCat(getpid(), "\n"));
  Put(slice + "/cgroup.subtree_control", "");
  absl::StatusOr<std::unique_ptr<PluginCgroup>> again = PluginCgroup::Create(options_, "x", {});
  EXPECT_FALSE(again.ok());
  EXPECT_FALSE(cgroupfs::Exists(slice + "/cordon-launcher"));
}

TEST_F(FakeCgroupV2Test, KillAllWritesCgroupKillAndWaitsForEmpty) {
  std::unique_ptr<PluginCgroup> cg = MustCreate({});
  ASSERT_NE(cg, nullptr);
  const std::string dir = dynamic_cast<CgroupV2Backend*>(cg.get())->dir();
  ASSERT_TRUE(cg->KillAll().ok());
  EXPECT_EQ(Get(dir + "/cgroup.kill"), "1");
  EXPECT_EQ(Get(dir + "/cgroup.freeze"), "0");
  absl::StatusOr<bool> empty = cg->IsEmpty();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(*empty);

  // A cgroup that never empties is reported, bounded by kill_timeout_ms.
  Put(dir + "/cgroup.events", "populated 1\nfrozen 0\n");
  empty = cg->IsEmpty();
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(*empty);
  absl::Status s = cg->KillAll();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_FALSE(cg->Remove().ok());
  EXPECT_TRUE(cgroupfs::Exists(dir));
  Put(dir + "/cgroup.events", "populated 0\nfrozen 0\n");
  EXPECT_TRUE(cg->Remove().ok());
}

TEST_F(FakeCgroupV2Test, KillAllWithoutCgroupKillFreezesKillsThaws) {
  with_kill_ = false;
  std::unique_ptr<PluginCgroup> cg = MustCreate({});
  ASSERT_NE(cg, nullptr);
  const std::string dir = dynamic_cast<CgroupV2Backend*>(cg.get())->dir();
  ASSERT_FALSE(cgroupfs::Exists(dir + "/cgroup.kill"));
  // Not frozen yet: the freeze wait times out and KillAll says so after thawing.
  absl::Status s = cg->KillAll();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(Get(dir + "/cgroup.freeze"), "0");
  Put(dir + "/cgroup.events", "populated 0\nfrozen 1\n");
  EXPECT_TRUE(cg->KillAll().ok());
  EXPECT_EQ(Get(dir + "/cgroup.freeze"), "0");
}

TEST_F(FakeCgroupV2Test, ReadUsageParsesEventAndStatFiles) {
  std::unique_ptr<PluginCgroup> cg = MustCreate({.memory_bytes = 1 << 20, .pids = 4});
  ASSERT_NE(cg, nullptr);
  const std::string dir = dynamic_cast<CgroupV2Backend*>(cg.get())->dir();
  Put(dir + "/memory.events", "low 0\nhigh 0\nmax 17\noom 3\noom_kill 2\noom_group_kill 1\n");
  Put(dir + "/pids.events", "max 5\n");
  Put(dir + "/pids.current", "4\n");
  Put(dir + "/memory.peak", "1048576\n");
  Put(dir + "/memory.current", "4096\n");
  Put(dir + "/cpu.stat",
      "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\n"
      "throttled_usec 2000\nnr_bursts 0\nburst_usec 0\n");
  absl::StatusOr<QuotaUsage> u = cg->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->oom_kills, 2u);
  EXPECT_EQ(u->memory_max_hits, 17u);
  EXPECT_EQ(u->pids_max_hits, 5u);
  EXPECT_EQ(u->pids_current, 4u);
  EXPECT_EQ(u->memory_peak_bytes, 1048576u);
  EXPECT_EQ(u->memory_current_bytes, 4096u);
  EXPECT_EQ(u->cpu_usage_ns, 1500000u);
  EXPECT_EQ(u->cpu_throttled_periods, 4u);
  EXPECT_EQ(u->cpu_throttled_ns, 2000000u);

  // Older kernels lack memory.peak: reads as 0, not an error.
  ASSERT_EQ(unlink((dir + "/memory.peak").c_str()), 0);
  u = cg->ReadUsage();
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->memory_peak_bytes, 0u);

  Put(dir + "/memory.events", "oom_kill lots\n");
  u = cg->ReadUsage();
  EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(u.status().message(), HasSubstr("memory.events"));
}

TEST_F(FakeCgroupV2Test, EventFdFiresWhenEventFilesChange) {
  std::unique_ptr<PluginCgroup> cg = MustCreate({.memory_bytes = 1 << 20, .pids = 4});
  ASSERT_NE(cg, nullptr);
  const std::string dir = dynamic_cast<CgroupV2Backend*>(cg.get())->dir();
  absl::StatusOr<int> fd = cg->EventFd();
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(*cg->EventFd(), *fd);  // one watch per cgroup
  EXPECT_EQ(fcntl(*fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  pollfd p{*fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);
  Put(dir + "/memory.events", "max 0\noom_kill 1\n");
  EXPECT_EQ(poll(&p, 1, 5000), 1);
  cg->DrainEvents();
  EXPECT_EQ(poll(&p, 1, 0), 0);
  Put(dir + "/pids.events", "max 1\n");
  EXPECT_EQ(poll(&p, 1, 5000), 1);
}

TEST_F(FakeCgroupV2Test, RemoveAndDestructorDeleteTheLeafOnly) {
  std::string dir;
  {
    std::unique_ptr<PluginCgroup> cg = MustCreate({});
    ASSERT_NE(cg, nullptr);
    dir = dynamic_cast<CgroupV2Backend*>(cg.get())->dir();
    ASSERT_TRUE(cgroupfs::Exists(dir));
  }
  EXPECT_FALSE(cgroupfs::Exists(dir));
  EXPECT_TRUE(cgroupfs::Exists(parent_ + "/cordon"));

  std::unique_ptr<PluginCgroup> cg = MustCreate({});
  ASSERT_NE(cg, nullptr);
  dir = dynamic_cast<CgroupV2Backend*>(cg.get())->dir();
  // A cgroup the plugin made below its own goes too.
  ASSERT_EQ(mkdir((dir + "/nested").c_str(), 0755), 0);
  Populate(dir + "/nested");
  ASSERT_TRUE(cg->Remove().ok());
  EXPECT_FALSE(cgroupfs::Exists(dir));
  EXPECT_EQ(cg->clone_into_fd(), -1);
  EXPECT_TRUE(cg->Remove().ok());
}

TEST_F(FakeCgroupV2Test, StaleSweepRemovesDeadLaunchersOnly) {
  std::unique_ptr<PluginCgroup> live = MustCreate({});
  ASSERT_NE(live, nullptr);
  const std::string cordon = parent_ + "/cordon";
  // A pid that existed and is gone now.
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
  const std::string stale = absl::StrCat(cordon, "/", dead, ".12345.0-old");
  ASSERT_TRUE(cgroupfs::MakeDir(stale, false, options_).ok());
  absl::StatusOr<uint64_t> start = cgroupfs::ReadProcStartTime("/proc", getpid());
  ASSERT_TRUE(start.ok());
  // Our pid with another start time: a previous launcher whose pid we reused.
  const std::string reused = absl::StrCat(cordon, "/", getpid(), ".", *start + 1, ".0-reused");
  ASSERT_TRUE(cgroupfs::MakeDir(reused, false, options_).ok());
  const std::string foreign = cordon + "/not-ours";
  ASSERT_TRUE(cgroupfs::MakeDir(foreign, false, options_).ok());

  absl::StatusOr<std::vector<std::string>> removed = RemoveStaleCgroups(options_);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(*removed, UnorderedElementsAre(stale, reused));
  EXPECT_FALSE(cgroupfs::Exists(stale));
  EXPECT_FALSE(cgroupfs::Exists(reused));
  EXPECT_TRUE(cgroupfs::Exists(foreign));
  EXPECT_TRUE(cgroupfs::Exists(dynamic_cast<CgroupV2Backend*>(live.get())->dir()));
}

}  // namespace
}  // namespace cordon::quota
