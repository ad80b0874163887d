#include "launcher/quota/cgroup_fs.h"

#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/quota/quota_test_support.h"

namespace cordon::quota::cgroupfs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

void Put(const std::string& path, absl::string_view content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
}

TEST(CgroupFsTest, ParseMountinfoUnescapesAndSplitsSuperOptions) {
  absl::StatusOr<std::vector<Mount>> m = ParseMountinfo(
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
      "rw,cpu,cpuacct\n"
      "41 31 0:38 /sub /mnt/my\\040cg rw - cgroup2 cgroup2 rw,nsdelegate\n");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ((*m)[0].fstype, "cgroup");
  EXPECT_THAT((*m)[0].options, ElementsAre("rw", "cpu", "cpuacct"));
  EXPECT_EQ((*m)[1].root, "/sub");
  EXPECT_EQ((*m)[1].mount_point, "/mnt/my cg");
  EXPECT_EQ((*m)[1].fstype, "cgroup2");
  EXPECT_FALSE(ParseMountinfo("1 2 3:4 / /x rw no separator\n").ok());
}

TEST(CgroupFsTest, ParseProcCgroup) {
  absl::StatusOr<std::vector<ProcCgroupEntry>> e =
      ParseProcCgroup("4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/user.slice/x:y\n");
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ((*e)[0].hierarchy_id, 4);
  EXPECT_THAT((*e)[0].controllers, ElementsAre("memory"));
  EXPECT_EQ((*e)[0].path, "/process_api/abc");
  EXPECT_THAT((*e)[1].controllers, ElementsAre("cpu", "cpuacct"));
  EXPECT_TRUE((*e)[2].controllers.empty());
  EXPECT_EQ((*e)[2].path, "/user.slice/x:y");  // ':' in a cgroup name survives
  EXPECT_FALSE(ParseProcCgroup("garbage\n").ok());
  EXPECT_FALSE(ParseProcCgroup("x:memory:/\n").ok());
}

TEST(CgroupFsTest, DiscoverHierarchiesResolvesMountRoots) {
  testing::TempDir tmp;
  Put(tmp.path() + "/mountinfo",
      "35 31 0:32 / /cg/memory rw - cgroup cgroup rw,memory\n"
      "32 31 0:29 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      // A bind of a subtree we are not in, then one we are in: the second must be chosen.
      "39 31 0:36 /other /cg/pids-other rw - cgroup cgroup rw,pids\n"
      "40 31 0:36 /ns /cg/pids rw - cgroup cgroup rw,pids\n"
      "41 31 0:37 / /cg/systemd rw - cgroup cgroup rw,name=systemd\n"
      "42 31 0:38 / /cg/unified rw - cgroup2 cgroup2 rw\n");
  Put(tmp.path() + "/cgroup",
      "9:name=systemd:/\n8:pids:/ns/me\n4:memory:/m\n1:cpu,cpuacct:/\n0::/\n");
  CgroupOptions o;
  o.mountinfo_path = tmp.path() + "/mountinfo";
  o.proc_self_cgroup_path = tmp.path() + "/cgroup";
  absl::StatusOr<std::vector<Hierarchy>> h = DiscoverHierarchies(o);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 4u);
  EXPECT_EQ((*h)[0].mount_point, "/cg/pids");
  EXPECT_EQ((*h)[0].DirFor((*h)[0].own_path), "/cg/pids/me");
  EXPECT_EQ((*h)[0].DirFor("/other"), std::nullopt);
  EXPECT_EQ((*h)[1].DirFor("/m/cordon"), "/cg/memory/m/cordon");
  EXPECT_TRUE((*h)[2].Has("cpuacct"));
  EXPECT_EQ((*h)[2].DirFor("/"), "/cg/cpu,cpuacct");
  EXPECT_EQ((*h)[3].version, 2);
  EXPECT_EQ((*h)[3].DirFor("/a/b/"), "/cg/unified/a/b");
}

TEST(CgroupFsTest, FlatKeyedAndUints) {
  auto kv = ParseFlatKeyed("oom_kill_disable 0\nunder_oom 0\noom_kill 7\n");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->at("oom_kill"), 7u);
  EXPECT_FALSE(ParseFlatKeyed("max\n").ok());
  EXPECT_FALSE(ParseFlatKeyed("max -1\n").ok());
  EXPECT_FALSE(ParseFlatKeyed("a 1 2\n").ok());
  EXPECT_TRUE(ParseFlatKeyed("").ok());
  EXPECT_EQ(*ParseUint(" 42\n"), 42u);
  EXPECT_FALSE(ParseUint("max").ok());
  EXPECT_FALSE(ParseUint("").ok());
}

TEST(CgroupFsTest, ReadFileCapsAndWriteFileNeverCreates) {
  testing::TempDir tmp;
  const std::string f = tmp.path() + "/f";
  Put(f, std::string(100, 'x'));
  EXPECT_EQ(ReadFile(f, 99).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(ReadFile(f, 100).ok());
  EXPECT_EQ(WriteFile(tmp.path() + "/absent", "1").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(Exists(tmp.path() + "/absent"));
  ASSERT_TRUE(WriteFile(f, "12").ok());
  EXPECT_EQ(*ReadUint(f), 12u);
  Put(f, "3\n4\n");
  EXPECT_THAT(*ReadPids(f), ElementsAre(3, 4));
  Put(f, "3\nzz\n");
  EXPECT_FALSE(ReadPids(f).ok());
}

TEST(CgroupFsTest, ProcStartTimeSurvivesHostileComm) {
  testing::TempDir tmp;
  ASSERT_EQ(mkdir((tmp.path() + "/77").c_str(), 0755), 0);
  // comm may hold spaces and ')' ; only the last ')' ends it.
  Put(tmp.path() + "/77/stat",
      "77 (a) b) 1 2 3) S 1 77 77 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 987654 1000 100\n");
  EXPECT_EQ(*ReadProcStartTime(tmp.path(), 77), 987654u);
  EXPECT_EQ(ReadProcStartTime(tmp.path(), 78).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<uint64_t> self = ReadProcStartTime("/proc", getpid());
  ASSERT_TRUE(self.ok());
  EXPECT_GT(*self, 0u);
}

TEST(CgroupFsTest, NamesRoundTripAndAreSanitised) {
  EXPECT_EQ(SanitisePluginName("my plugin/../x"), "my_plugin____x");
  EXPECT_EQ(SanitisePluginName(""), "plugin");
  EXPECT_EQ(SanitisePluginName(std::string(500, 'a')).size(), kMaxPluginNameInCgroup);
  std::string n = FormatCgroupName(
      {.launcher_pid = 123, .launcher_start_time = 456, .seq = 7, .plugin = "a.b-c"});
  EXPECT_EQ(n, "123.456.7-a_b-c");
  std::optional<CgroupName> p = ParseCgroupName(n);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->launcher_pid, 123);
  EXPECT_EQ(p->launcher_start_time, 456u);
  EXPECT_EQ(p->seq, 7u);
  EXPECT_EQ(p->plugin, "a_b-c");
  for (const char* bad : {"cordon-launcher", "1.2-x", "0.1.2-x", "a.1.2-x", "1.2.3-", "1.2.3"}) {
    EXPECT_FALSE(ParseCgroupName(bad).has_value()) << bad;
  }
}

TEST(CgroupFsTest, MakeDirAndRemoveTree) {
  testing::TempDir tmp;
  CgroupOptions o;
  int made = 0;
  o.on_mkdir_for_testing = [&made](const std::string&) { ++made; };
  const std::string d = tmp.path() + "/a";
  ASSERT_TRUE(MakeDir(d, false, o).ok());
  EXPECT_EQ(MakeDir(d, false, o).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(MakeDir(d, true, o).ok());
  EXPECT_EQ(made, 1);
  ASSERT_TRUE(MakeDir(d + "/b", false, o).ok());
  ASSERT_TRUE(MakeDir(d + "/b/c", false, o).ok());
  ASSERT_TRUE(RemoveTree(d, o).ok());
  EXPECT_FALSE(Exists(d));
  EXPECT_TRUE(RemoveTree(d, o).ok());
}

}  // namespace
}  // namespace cordon::quota::cgroupfs
