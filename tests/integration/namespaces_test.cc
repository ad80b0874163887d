// New user, pid, mount, net, ipc, uts and cgroup namespaces: the program sees no host
// process, no host network interface, and cannot change the host's hostname.
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

std::string HostNamespace(const std::string& type) {
  char target[128] = {};
  ssize_t n = readlink(("/proc/self/ns/" + type).c_str(), target, sizeof(target) - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : "";
}

std::string HostName() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

class NamespacesTest : public ::testing::TestWithParam<bool> {
 protected:
  // Dynamic probe under `default`, static probe under `minimal`.
  std::vector<std::string> Args(std::initializer_list<std::string> probe_args) const {
    std::vector<std::string> args;
    if (GetParam()) args = {"--profile", "minimal"};
    args.push_back("--");
    args.push_back(CordonRunner::Probe("sandbox_probe", GetParam()));
    args.insert(args.end(), probe_args);
    return args;
  }
};

TEST_P(NamespacesTest, EveryNamespaceDiffersFromTheHost) {
  RunResult r = RunCordon(Args({"ns"}));
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  for (const std::string type : {"user", "pid", "mnt", "net", "ipc", "uts", "cgroup"}) {
    SCOPED_TRACE(type);
    std::string inside = r.Line("ns " + type);
    ASSERT_FALSE(inside.empty()) << r.Describe();
    std::string link = inside.substr(inside.rfind(' ') + 1);
    EXPECT_TRUE(absl::StartsWith(link, type + ":[")) << inside;
    EXPECT_NE(link, HostNamespace(type)) << "the program shares the host's " << type
                                         << " namespace";
  }
  ExpectNoLeftovers(r);
}

TEST_P(NamespacesTest, SeesOnlyItsOwnProcesses) {
  RunResult r = RunCordon(Args({"procs"}));
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  // The sandbox init (pid 1) and the probe (pid 2); the host has hundreds.
  EXPECT_EQ(r.Field("procs", "count"), "2") << r.Describe();
  std::set<std::string> pids;
  for (const std::string& line : r.Lines("proc ")) pids.insert(line.substr(5, line.find(' ', 5) - 5));
  EXPECT_THAT(pids, UnorderedElementsAre("1", "2"));
  EXPECT_EQ(r.Lines("proc 2 ").size(), 1u);
  EXPECT_TRUE(absl::StrContains(r.Lines("proc 2 ").front(), "sandbox_probe")) << r.out;
}

TEST_P(NamespacesTest, SeesOnlyLoopback) {
  // Meaningful only when the host has more than lo.
  std::ifstream dev("/proc/net/dev");
  std::stringstream host;
  host << dev.rdbuf();
  ASSERT_GE(std::count(host.str().begin(), host.str().end(), ':'), 2) << host.str();
  RunResult r = RunCordon(Args({"netifs"}));
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_THAT(r.Lines("netif "), ElementsAre("netif lo")) << r.Describe();
}

TEST_P(NamespacesTest, OwnHostnameAndHostHostnameUnchanged) {
  const std::string before = HostName();
  RunOptions options;
  options.args = Args({"hostname"});
  RunResult r = CordonRunner::Run(options);
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("hostname"), "hostname cordon");
  EXPECT_NE(before, "cordon");

  // Trying to change it is refused by seccomp (and would only reach the sandbox's uts
  // namespace anyway).
  std::vector<std::string> args;
  if (GetParam()) args = {"--profile", "minimal"};
  args.push_back("--");
  args.push_back(CordonRunner::Probe("syscall_probe", GetParam()));
  args.push_back("sethostname");
  RunResult set = RunCordon(args);
  ASSERT_EQ(set.exit_status, 0) << set.Describe();
  EXPECT_EQ(set.Line("sethostname"), "sethostname ret=-1 errno=EPERM");
  EXPECT_EQ(ViolationsFor(set, "sethostname").size(), 1u) << set.Describe();
  EXPECT_EQ(HostName(), before);
}

INSTANTIATE_TEST_SUITE_P(DynamicAndStatic, NamespacesTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Static" : "Dynamic"; });

}  // namespace
}  // namespace cordon::integration
