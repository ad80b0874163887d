// Real cgroup v1 test of the stale sweep: cgroups named for a dead launcher (or a reused pid)
// go, with any process still inside; those of live launchers and foreign names stay.
#include "launcher/quota/stale_cgroups.h"

#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/quota/cgroup_fs.h"
#include "launcher/quota/plugin_cgroup.h"
#include "launcher/quota/quota_test_support.h"

namespace cordon::quota {
namespace {

using ::testing::Contains;
using ::testing::IsSupersetOf;
using ::testing::Not;
using testing::ScopedReaper;
using testing::TestChild;

// Removes directories this test made by hand, whatever the sweep did.
class DirGuard {
 public:
  ~DirGuard() {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) rmdir(it->c_str());
  }
  bool Make(const std::string& dir) {
    if (mkdir(dir.c_str(), 0755) != 0) return false;
    dirs_.push_back(dir);
    return true;
  }

 private:
  std::vector<std::string> dirs_;
};

TEST(StaleCgroupsTest, RemovesDeadLaunchersCgroupsAndKeepsLiveOnes) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  absl::StatusOr<std::vector<cgroupfs::Hierarchy>> hs = cgroupfs::DiscoverHierarchies({});
  ASSERT_TRUE(hs.ok()) << hs.status();
  // The sweep runs below a parent of this test's own: every `cordon run` started by other
  // tests running at the same time sweeps the default parent too, and would otherwise race
  // this test for its fake stale cgroups.
  CgroupOptions options;
  options.parent_override = absl::StrCat("/cordon-stale-test-", getpid());
  DirGuard guard;
  std::vector<std::string> cordon_dirs;  // one per v1 hierarchy cordon uses
  bool memory = false, pids = false;
  for (const cgroupfs::Hierarchy& h : *hs) {
    if (h.version != 1) continue;
    bool used = false;
    for (const char* c : {"memory", "pids", "cpu", "cpuacct", "freezer"}) used |= h.Has(c);
    if (!used) continue;
    memory |= h.Has("memory");
    pids |= h.Has("pids");
    const std::string parent = *h.DirFor(options.parent_override);
    ASSERT_TRUE(guard.Make(parent)) << parent;
    ASSERT_TRUE(guard.Make(parent + "/cordon")) << parent;
    cordon_dirs.push_back(parent + "/cordon");
  }
  if (!memory || !pids) GTEST_SKIP() << "needs cgroup v1 memory and pids";
  ScopedReaper reaper;
  // A normally created cgroup of this (live) launcher must survive the sweep.
  absl::StatusOr<std::unique_ptr<PluginCgroup>> ours = PluginCgroup::Create(options, "ours", {});
  ASSERT_TRUE(ours.ok()) << ours.status();

  pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
  absl::StatusOr<uint64_t> my_start = cgroupfs::ReadProcStartTime("/proc", getpid());
  ASSERT_TRUE(my_start.ok());
  TestChild inmate = TestChild::Start([] { return 0; });  // never told to go
  ASSERT_GT(inmate.pid(), 0);
  absl::StatusOr<uint64_t> inmate_start = cgroupfs::ReadProcStartTime("/proc", inmate.pid());
  ASSERT_TRUE(inmate_start.ok());

  const std::string stale = absl::StrCat(dead, ".777.0-stale");
  const std::string reused = absl::StrCat(getpid(), ".", *my_start + 1, ".0-reused");
  const std::string live_other = absl::StrCat(inmate.pid(), ".", *inmate_start, ".0-live");
  const std::string foreign = "not-a-cordon-name";
  std::vector<std::string> expect_gone, expect_kept;
  for (const std::string& cordon : cordon_dirs) {
    for (const std::string& leaf : {stale, reused, live_other, foreign}) {
      ASSERT_TRUE(guard.Make(cordon + "/" + leaf)) << cordon << "/" << leaf;
    }
    expect_gone.push_back(cordon + "/" + stale);
    expect_gone.push_back(cordon + "/" + reused);
    expect_kept.push_back(cordon + "/" + live_other);
    expect_kept.push_back(cordon + "/" + foreign);
  }
  // A leftover plugin process inside the stale cgroup must be killed, or rmdir would fail.
  for (const std::string& cordon : cordon_dirs) {
    ASSERT_TRUE(
        cgroupfs::WriteFile(cordon + "/" + stale + "/cgroup.procs", absl::StrCat(inmate.pid()))
            .ok());
  }

  absl::StatusOr<std::vector<std::string>> removed = RemoveStaleCgroups(options);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(*removed, IsSupersetOf(expect_gone));
  for (const std::string& d : expect_gone) EXPECT_FALSE(cgroupfs::Exists(d)) << d;
  for (const std::string& d : expect_kept) {
    EXPECT_TRUE(cgroupfs::Exists(d)) << d;
    EXPECT_THAT(*removed, Not(Contains(d)));
  }
  EXPECT_TRUE(cgroupfs::Exists((*ours)->Describe().substr((*ours)->Describe().find(" /") + 1)));
  int status = inmate.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

}  // namespace
}  // namespace cordon::quota
