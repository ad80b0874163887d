// New user, pid, mount, net, ipc, uts and cgroup namespaces: the program sees no host
// process, no host network interface, and cannot change the host's hostname.
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
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
    EXPECT_NE(link, HostNamespace(type))
        << "the program shares the host's " << type << " namespace";
  }
  ExpectNoLeftovers(r);
}

TEST_P(NamespacesTest, SeesOnlyItsOwnProcesses) {
  RunResult r = RunCordon(Args({"procs"}));
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  // The sandbox init (pid 1) and the probe (pid 2); the host has hundreds.
  EXPECT_EQ(r.Field("procs", "count"), "2") << r.Describe();
  std::set<std::string> pids;
  for (const std::string& line : r.Lines("proc "))
    pids.insert(line.substr(5, line.find(' ', 5) - 5));
  EXPECT_THAT(pids, UnorderedElementsAre("1", "2"));
  EXPECT_EQ(r.Lines("proc 2 ").size(), 1u);
  EXPECT_TRUE(absl::StrContains(r.Lines("proc 2 ").front(), "sandbox_probe")) << r.out;
}

TEST_P(NamespacesTest, SeesOnlyLoopback) {
  // Meaningful only when the host has more than lo.
  std::ifstream dev("/proc/net/dev");
  std::stringstream host;
  host << dev.rdbuf();
  const std::string host_text = host.str();
  ASSERT_GE(std::count(host_text.begin(), host_text.end(), ':'), 2) << host_text;
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

TEST_P(NamespacesTest, HostProcessesAndAbstractSocketsAreUnreachable) {
  // A host abstract Unix socket, listening: reachable from any process in the host's network
  // namespace, by name alone.
  const std::string name = "cordon-integ-" + std::to_string(getpid());
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path + 1, name.data(), name.size());
  socklen_t length =
      static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(bind(listener, reinterpret_cast<struct sockaddr*>(&addr), length), 0);
  ASSERT_EQ(listen(listener, 8), 0);

  // minimal has no socket syscalls at all; default allows AF_UNIX, so only the namespace
  // stops the connect.
  std::vector<std::string> args;
  if (GetParam()) args = {"--profile", "minimal"};
  args.push_back("--");
  args.push_back(CordonRunner::Probe("syscall_probe", GetParam()));
  args.push_back("kill_pid=" + std::to_string(getpid()));
  args.push_back("kill_pid=" + std::to_string(getppid()));
  args.push_back("connect_abstract=" + name);
  RunResult r = RunCordon(args);
  close(listener);
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("kill_pid=" + std::to_string(getpid())),
            "kill_pid=" + std::to_string(getpid()) + " ret=-1 errno=ESRCH");
  EXPECT_EQ(r.Line("kill_pid=" + std::to_string(getppid())),
            "kill_pid=" + std::to_string(getppid()) + " ret=-1 errno=ESRCH");
  EXPECT_EQ(r.Line("connect_abstract=" + name),
            "connect_abstract=" + name + " ret=-1 errno=" + (GetParam() ? "EPERM" : "ECONNREFUSED"))
      << r.out;
}

TEST_P(NamespacesTest, CgroupNamespaceRootIsThePluginsCgroup) {
  RunResult r = RunCordon(Args({"cgroup"}));
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  std::vector<std::string> lines = r.Lines("cgroup ");
  ASSERT_FALSE(lines.empty()) << r.out;
  for (const std::string& line : lines) {
    // "cgroup 4:memory:/": the host's cgroup paths (and the launcher's) stay hidden.
    EXPECT_TRUE(absl::EndsWith(line, ":/")) << line;
  }
}

INSTANTIATE_TEST_SUITE_P(DynamicAndStatic, NamespacesTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Static" : "Dynamic"; });

}  // namespace
}  // namespace cordon::integration
