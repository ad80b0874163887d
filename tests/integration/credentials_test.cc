// The plugin never runs as host root: it maps to an unprivileged (configurable) host uid, has
// no capabilities at all, no_new_privs, and a seccomp filter.
#include <fstream>
#include <sstream>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_replace.h"
#include "tests/integration/temp_dir.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// "Uid:\t65534\t65534\t65534\t65534" -> the four ids as one string "65534 65534 65534 65534".
std::string StatusIds(const std::string& status, const std::string& key) {
  size_t at = status.find("\n" + key + ":");
  if (at == std::string::npos) return "";
  std::string line =
      status.substr(at + key.size() + 2, status.find('\n', at + 1) - at - key.size() - 2);
  return absl::StrReplaceAll(line, {{"\t", " "}}).substr(1);
}

// The parameter: the static probe under the minimal profile (true) or the dynamic one under
// the default profile (false).
class CredentialsTest : public ::testing::TestWithParam<bool> {
 protected:
  RunResult RunProbe(const std::string& command) {
    std::vector<std::string> args;
    if (GetParam()) args = {"--profile", "minimal"};
    args.push_back("--");
    args.push_back(CordonRunner::Probe("sandbox_probe", GetParam()));
    args.push_back(command);
    return RunCordon(args);
  }
};

TEST_P(CredentialsTest, NoCapabilitiesNoNewPrivsSeccompFilter) {
  RunResult r = RunProbe("status");
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  for (const std::string cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_EQ(r.Line("status " + cap), "status " + cap + " 0000000000000000") << r.out;
  }
  EXPECT_EQ(r.Line("status NoNewPrivs"), "status NoNewPrivs 1") << r.out;
  EXPECT_EQ(r.Line("status Seccomp"), "status Seccomp 2") << r.out;
}

// The sandbox's init has a filter of its own (InitFilter), no capabilities and no_new_privs.
TEST_P(CredentialsTest, InitHasItsOwnSeccompFilterAndNoCapabilities) {
  RunResult r = RunProbe("initstatus");
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("initstatus Seccomp"), "initstatus Seccomp 2") << r.out;
  EXPECT_EQ(r.Line("initstatus NoNewPrivs"), "initstatus NoNewPrivs 1") << r.out;
  EXPECT_EQ(r.Line("initstatus CapEff"), "initstatus CapEff 0000000000000000") << r.out;
}

TEST_P(CredentialsTest, ProgramSeesSandboxIdsWithoutGroups) {
  RunResult r = RunProbe("ids");
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("ids"), "ids uid=1000 euid=1000 gid=1000 egid=1000 groups=0") << r.out;
}

INSTANTIATE_TEST_SUITE_P(DynamicAndStatic, CredentialsTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Static" : "Dynamic"; });

// Looks at the running sandbox from the host: the processes' real, effective, saved and
// filesystem uids are the unprivileged host uid, never 0.
void ExpectHostIds(const std::vector<std::string>& extra_args, const std::string& host_id) {
  RunOptions options;
  options.args = extra_args;
  options.args.push_back("--");
  options.args.push_back(CordonRunner::Probe("sandbox_probe"));
  options.args.push_back("pause");
  absl::StatusOr<RunningCordon> running = CordonRunner::Start(options);
  ASSERT_TRUE(running.ok()) << running.status();
  // Early ASSERT returns must not leave cordon running or its audit dir behind.
  absl::Cleanup finish = [&] { CordonRunner::Finish(&*running); };
  ASSERT_TRUE(CordonRunner::WaitForLine(*running, "paused", absl::Seconds(10)));
  std::vector<audit::JsonValue> records = CordonRunner::ReadAudit(running->audit_path, nullptr);
  ASSERT_FALSE(records.empty());
  ASSERT_EQ(StringField(records[0], "type"), "plugin.start");
  const audit::JsonValue* uid_map = records[0].Find("uid_map");
  ASSERT_NE(uid_map, nullptr);
  EXPECT_EQ(IntField(*uid_map, "host_uid"), std::stoll(host_id));
  EXPECT_EQ(IntField(*uid_map, "sandbox_uid"), 1000);
  pid_t init = static_cast<pid_t>(IntField(records[0], "host_pid"));
  std::string init_status = ReadFile("/proc/" + std::to_string(init) + "/status");
  const std::string ids = host_id + " " + host_id + " " + host_id + " " + host_id;
  EXPECT_EQ(StatusIds(init_status, "Uid"), ids) << init_status;
  EXPECT_EQ(StatusIds(init_status, "Gid"), ids) << init_status;
  std::string children =
      ReadFile("/proc/" + std::to_string(init) + "/task/" + std::to_string(init) + "/children");
  ASSERT_FALSE(children.empty()) << "the program is not the init's child";
  pid_t program = static_cast<pid_t>(std::stol(children));
  std::string program_status = ReadFile("/proc/" + std::to_string(program) + "/status");
  EXPECT_EQ(StatusIds(program_status, "Uid"), ids) << program_status;
  EXPECT_EQ(StatusIds(program_status, "Gid"), ids) << program_status;
  EXPECT_TRUE(absl::StrContains(program_status, "CapEff:\t0000000000000000"));
  CordonRunner::Finish(&*running);
  EXPECT_TRUE(WaitProcessGone(init, absl::Seconds(5)));
  EXPECT_TRUE(WaitProcessGone(program, absl::Seconds(5)));
}

TEST(HostUid, DefaultIsNobody) { ExpectHostIds({}, "65534"); }

TEST(HostUid, ConfigurableInProfile) {
  TempDir dir;
  std::string profile = ReadFile(CordonRunner::ProfilePath("default"));
  const std::string user_line = "user { sandbox_uid: 1000 sandbox_gid: 1000 }";
  ASSERT_TRUE(absl::StrContains(profile, user_line)) << "default profile changed; update test";
  profile =
      absl::StrReplaceAll(profile, {{user_line,
                                     "user { sandbox_uid: 1000 sandbox_gid: 1000 host_uid: 23456 "
                                     "host_gid: 23456 }"},
                                    {"name: \"default\"", "name: \"uid23456\""}});
  std::string path = dir.Write("uid23456.textproto", profile);
  ASSERT_FALSE(path.empty());
  ExpectHostIds({"--profile", path}, "23456");
}

}  // namespace
}  // namespace cordon::integration
