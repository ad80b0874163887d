// cordon sweeps the cgroups a crashed launcher left behind at the start of every run (the
// issue's "on start removes stale ones"), and a sweep that fails is reported, not swallowed.
// The runs use --cgroup-parent so that the stale cgroups can be laid out where cordon looks.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "launcher/quota/cgroup_fs.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

namespace cgroupfs = quota::cgroupfs;
using ::testing::HasSubstr;

constexpr const char* kControllers[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};

class CgroupSweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0) << "the sweep tests lay out cgroups and need root";
    absl::StatusOr<std::vector<cgroupfs::Hierarchy>> all =
        cgroupfs::DiscoverHierarchies(quota::CgroupOptions{});
    ASSERT_TRUE(all.ok()) << all.status();
    for (const cgroupfs::Hierarchy& h : *all) {
      if (h.version != 1) continue;
      for (const char* c : kControllers) {
        if (h.Has(c)) mounts_[c] = h.mount_point;
      }
    }
    ASSERT_TRUE(mounts_.count("memory") && mounts_.count("pids") && mounts_.count("freezer"))
        << "needs the v1 memory, pids and freezer hierarchies";
    parent_ = absl::StrCat("/cordon-test-sweep-", getpid());
    for (const auto& [controller, mount] : mounts_) {
      ASSERT_TRUE(cgroupfs::MakeDir(mount + parent_, true, {}).ok());
      ASSERT_TRUE(cgroupfs::MakeDir(mount + parent_ + "/cordon", true, {}).ok());
    }
    // The outer net for what cordon starts under this parent (outside the runner's cgroup).
    ASSERT_TRUE(cgroupfs::WriteFile(Dir("pids") + "/pids.max", "64").ok());
    ASSERT_TRUE(cgroupfs::WriteFile(Dir("memory") + "/memory.limit_in_bytes", "268435456").ok());
    // A launcher that is not running: a child that has exited and been reaped (were its pid
    // reused meanwhile, start time 1 still names another process).
    pid_t dead = fork();
    ASSERT_GE(dead, 0);
    if (dead == 0) _exit(0);
    int status;
    ASSERT_EQ(waitpid(dead, &status, 0), dead);
    stale_ = cgroupfs::FormatCgroupName({dead, 1, 0, "crashed"});
  }

  void TearDown() override {
    if (held_ > 0) {
      (void)cgroupfs::WriteFile(Dir("freezer") + "/held/freezer.state", "THAWED");
      kill(held_, SIGKILL);
      int status;
      waitpid(held_, &status, 0);
    }
    for (const auto& [controller, mount] : mounts_) {
      (void)cgroupfs::RemoveTree(mount + parent_, {});
    }
  }

  std::string Dir(const std::string& controller) const {
    auto it = mounts_.find(controller);
    return it == mounts_.end() ? "" : it->second + parent_;
  }
  std::string StaleDir(const std::string& controller) const {
    return Dir(controller) + "/cordon/" + stale_;
  }

  RunResult RunTrue() {
    RunOptions options;
    options.args = {"--cgroup-parent", parent_, "--", "/bin/true"};
    options.timeout = absl::Seconds(30);
    return CordonRunner::Run(options);
  }

  std::map<std::string, std::string> mounts_;
  std::string parent_;
  std::string stale_;
  pid_t held_ = -1;
};

TEST_F(CgroupSweepTest, StaleCgroupOfACrashedLauncherIsRemovedByTheNextRun) {
  for (const char* c : {"memory", "pids"})
    ASSERT_TRUE(cgroupfs::MakeDir(StaleDir(c), false, {}).ok());
  RunResult r = RunTrue();
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_FALSE(cgroupfs::Exists(StaleDir("memory"))) << "the stale cgroup was not swept";
  EXPECT_FALSE(cgroupfs::Exists(StaleDir("pids")));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("sweep"))) << r.err;
  ExpectNoLeftovers(r);
}

// A stale cgroup holding a process that cannot die yet (frozen in another freezer cgroup, so
// SIGKILL stays pending) cannot be removed: the run goes on, and says so on stderr and in
// plugin.start.
TEST_F(CgroupSweepTest, FailedSweepIsReportedOnStderrAndInPluginStart) {
  ASSERT_TRUE(cgroupfs::MakeDir(StaleDir("pids"), false, {}).ok());
  ASSERT_TRUE(cgroupfs::MakeDir(Dir("freezer") + "/held", false, {}).ok());
  held_ = fork();
  ASSERT_GE(held_, 0);
  if (held_ == 0) {
    for (;;) pause();
  }
  const std::string pid = std::to_string(held_);
  ASSERT_TRUE(cgroupfs::WriteFile(StaleDir("pids") + "/cgroup.procs", pid).ok());
  ASSERT_TRUE(cgroupfs::WriteFile(Dir("freezer") + "/held/cgroup.procs", pid).ok());
  ASSERT_TRUE(cgroupfs::WriteFile(Dir("freezer") + "/held/freezer.state", "FROZEN").ok());
  // The kernel offers no notification for the v1 freezer: read the state until it settles.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  absl::StatusOr<std::string> state;
  do {
    state = cgroupfs::ReadFile(Dir("freezer") + "/held/freezer.state");
    ASSERT_TRUE(state.ok()) << state.status();
  } while (absl::StripAsciiWhitespace(*state) != "FROZEN" && absl::Now() < deadline);
  ASSERT_EQ(absl::StripAsciiWhitespace(*state), "FROZEN");

  RunResult r = RunTrue();
  EXPECT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("cordon run: warning: stale cgroup sweep failed:")) << r.err;
  EXPECT_THAT(r.err, HasSubstr(stale_)) << r.err;
  const audit::JsonValue* start = r.Record("plugin.start");
  ASSERT_NE(start, nullptr) << r.Describe();
  const audit::JsonValue* notes = start->Find("quota_notes");
  ASSERT_NE(notes, nullptr) << r.audit_text;
  ASSERT_TRUE(notes->is_array());
  ASSERT_EQ(notes->array().size(), 1u);
  EXPECT_THAT(notes->array()[0].string_value(), HasSubstr("stale cgroup sweep failed"));
  EXPECT_TRUE(cgroupfs::Exists(StaleDir("pids"))) << "it could not have been removed";
}

}  // namespace
}  // namespace cordon::integration
