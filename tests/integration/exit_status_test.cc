// Exit status: the program's; 128+N on signal N; 125 with a message naming the failed step
// for a setup failure; --help describes every flag.
#include <signal.h>

#include <set>
#include <string>

#include "absl/strings/str_split.h"
#include "tests/integration/temp_dir.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

TEST(ExitStatus, ProgramsOwnStatus) {
  for (const std::string code : {"0", "1", "42", "123", "255"}) {
    RunResult r = RunCordon({"--", CordonRunner::Probe("sandbox_probe"), "exit", code});
    EXPECT_EQ(r.exit_status, std::stoi(code)) << r.Describe();
    const audit::JsonValue* exit = r.Record("plugin.exit");
    ASSERT_NE(exit, nullptr);
    EXPECT_EQ(IntField(*exit, "exit_code"), std::stoi(code));
  }
}

TEST(ExitStatus, SignalIs128PlusN) {
  for (int sig : {SIGTERM, SIGSEGV, SIGABRT, SIGUSR1}) {
    RunResult r =
        RunCordon({"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe", true),
                   "signal", std::to_string(sig)});
    EXPECT_EQ(r.exit_status, 128 + sig) << r.Describe();
    const audit::JsonValue* exit = r.Record("plugin.exit");
    ASSERT_NE(exit, nullptr);
    EXPECT_EQ(IntField(*exit, "signal"), sig);
    EXPECT_FALSE(HasField(*exit, "exit_code"));
  }
}

// SIGXCPU/SIGXFSZ mean "an rlimit was exceeded", and cordon reports such a death as a quota
// kill. A program must not be able to forge one: sending either signal is refused by the
// filter (recorded as a seccomp.violation), so no quota.violation and no exit 124 appear.
TEST(ExitStatus, SelfRaisedSigxcpuAndSigxfszAreNotQuotaKills) {
  for (int sig : {SIGXCPU, SIGXFSZ}) {
    RunResult r =
        RunCordon({"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe", true),
                   "signal", std::to_string(sig)});
    const audit::JsonValue* exit = r.Record("plugin.exit");
    ASSERT_NE(exit, nullptr) << r.Describe();
    EXPECT_NE(r.exit_status, 124) << r.Describe();
    EXPECT_NE(IntField(*exit, "signal"), sig) << "the program could raise it";
    EXPECT_TRUE(r.Records("quota.violation").empty()) << r.Describe();
    bool refused = false;
    for (const audit::JsonValue* v : r.Records("seccomp.violation")) {
      const audit::JsonValue* args = v->Find("args");
      if (args == nullptr || !args->is_array() || args->array().size() != 6) continue;
      uint64_t arg1 = 0, arg2 = 0;
      args->array()[1].ToUint64(&arg1);
      args->array()[2].ToUint64(&arg2);
      if (arg1 == static_cast<uint64_t>(sig) || arg2 == static_cast<uint64_t>(sig)) refused = true;
    }
    EXPECT_TRUE(refused) << "no seccomp.violation naming signal " << sig << "\n" << r.Describe();
  }
}

TEST(ExitStatus, MissingRoBindSourceIs125NamingTheFlag) {
  RunResult r = RunCordon({"--ro-bind", "/nonexistent-cordon-src:/data", "--",
                           CordonRunner::Probe("sandbox_probe"), "exit", "0"});
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "--ro-bind")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "/nonexistent-cordon-src")) << r.err;
  EXPECT_EQ(r.Record("plugin.start"), nullptr) << "nothing started";
}

TEST(ExitStatus, MissingProgramIs125) {
  RunResult r = RunCordon({"--", "/nonexistent-cordon-program"});
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "/nonexistent-cordon-program")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "No such file or directory")) << r.err;
  RunResult bare = RunCordon({"--", "nonexistent-cordon-program"});
  EXPECT_EQ(bare.exit_status, 125) << bare.Describe();
  EXPECT_TRUE(absl::StrContains(bare.err, "not found in $PATH")) << bare.err;
}

TEST(ExitStatus, DynamicProgramUnderMinimalFailsAtExecWithAdvice) {
  RunResult r =
      RunCordon({"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe"), "exit", "0"});
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "step 'execute the program'")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "errno 2")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "No such file or directory")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "static program")) << "advice missing: " << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(ExitStatus, ReservedMountDestinationIs125) {
  RunResult r = RunCordon(
      {"--ro-bind", "/usr:/proc", "--", CordonRunner::Probe("sandbox_probe"), "exit", "0"});
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "/proc")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "reserved")) << r.err;
  RunResult dotdot = RunCordon(
      {"--bind", "/tmp:/data/../etc", "--", CordonRunner::Probe("sandbox_probe"), "exit", "0"});
  EXPECT_EQ(dotdot.exit_status, 125) << dotdot.Describe();
  EXPECT_TRUE(absl::StrContains(dotdot.err, "'..'")) << dotdot.err;
}

TEST(ExitStatus, UnwritableAuditLogIs125BeforeAnythingRuns) {
  RunOptions options;
  options.audit = false;
  options.args = {"--audit-log", "/nonexistent-cordon-dir/audit.jsonl", "--",
                  CordonRunner::Probe("sandbox_probe"), "hostname"};
  RunResult r = CordonRunner::Run(options);
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "/nonexistent-cordon-dir/audit.jsonl")) << r.err;
  EXPECT_EQ(r.out, "") << "the program ran without its audit log";
}

TEST(ExitStatus, NonExecutableProgramsAre125) {
  TempDir dir;
  std::string plain = dir.Copy(CordonRunner::Probe("sandbox_probe", true), "plain", 0644);
  RunResult r = RunCordon({"--profile", "minimal", "--", plain, "exit", "0"});
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "not an executable")) << r.err;
  RunResult directory = RunCordon({"--profile", "minimal", "--", dir.path()});
  EXPECT_EQ(directory.exit_status, 125) << directory.Describe();
  // Executable by root only: the sandbox's unprivileged uid may not run it.
  std::string root_only = dir.Copy(CordonRunner::Probe("sandbox_probe", true), "root-only", 0700);
  RunResult denied = RunCordon({"--profile", "minimal", "--", root_only, "exit", "0"});
  EXPECT_EQ(denied.exit_status, 125) << denied.Describe();
  EXPECT_TRUE(absl::StrContains(denied.err, "step 'execute the program'")) << denied.err;
  EXPECT_TRUE(absl::StrContains(denied.err, "errno 13")) << denied.err;
}

TEST(ExitStatus, UnknownProfileIs125NamingIt) {
  RunResult r = RunCordon({"--profile", "no-such-cordon-profile", "--", "/bin/true"});
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "no-such-cordon-profile")) << r.err;
  EXPECT_EQ(r.Record("plugin.start"), nullptr);
}

// --pids 1 leaves no room for the program next to the sandbox init: refused up front with a
// message naming the quota and the value to use, before anything starts.
TEST(ExitStatus, PidsQuotaTooSmallForInitAndProgramIs125WithAdvice) {
  RunResult r = RunCordon({"--pids", "1", "--", CordonRunner::Probe("sandbox_probe"), "pid"});
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(absl::StrContains(r.err, "pids quota 1 is too small")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "--pids 2")) << r.err;
  EXPECT_EQ(r.Record("plugin.start"), nullptr) << "nothing started";
}

TEST(ExitStatus, UnknownOptionIs125) {
  RunResult r = RunCordon({"--no-such-flag", "--", "/bin/true"});
  EXPECT_EQ(r.exit_status, 125) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "--no-such-flag")) << r.err;
}

// Every flag the CLI accepts, with a valid value.
const std::vector<std::vector<std::string>> kFlags = {{"--profile", "default"},
                                                      {"--audit-log", "/dev/null"},
                                                      {"--cgroup-parent", "/"},
                                                      {"--audit-sync"},
                                                      {"--audit-key-file", "/usr/lib/os-release"},
                                                      {"--audit-rotate-size", "1M"},
                                                      {"--audit-rotate-age", "1h"},
                                                      {"--audit-on-failure", "deny"},
                                                      {"--ro-bind", "/usr/share:/share"},
                                                      {"--bind", "/tmp:/hosttmp"},
                                                      {"--env", "A=B"},
                                                      {"--memory", "256M"},
                                                      {"--pids", "32"},
                                                      {"--cpu-time", "5"},
                                                      {"--cpu-rate", "50"},
                                                      {"--wall-time", "20s"},
                                                      {"--open-files", "64"},
                                                      {"--file-size", "1M"},
                                                      {"--tmp-size", "8M"}};

TEST(ExitStatus, HelpDescribesEveryFlag) {
  RunOptions options;
  options.args = {"--help"};
  options.audit = false;
  RunResult r = CordonRunner::Run(options);
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  std::set<std::string> documented;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StartsWith(line, "  --")) {
      documented.insert(std::string(line.substr(2, line.find_first_of(" ,", 2) - 2)));
    }
  }
  std::set<std::string> accepted;
  for (const auto& flag : kFlags) accepted.insert(flag[0]);
  EXPECT_EQ(documented, accepted) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "-h, --help"));
  for (const std::string status : {"124", "125", "159", "128+N"}) {
    EXPECT_TRUE(absl::StrContains(r.out, status)) << "exit status " << status;
  }
}

TEST(ExitStatus, EveryDocumentedFlagIsAccepted) {
  for (const auto& flag : kFlags) {
    SCOPED_TRACE(flag[0]);
    RunOptions options;
    options.audit = flag[0] != "--audit-log";
    options.args = flag;
    options.args.insert(options.args.end(),
                        {"--", CordonRunner::Probe("sandbox_probe"), "exit", "3"});
    RunResult r = CordonRunner::Run(options);
    EXPECT_EQ(r.exit_status, 3) << r.Describe();
  }
}

}  // namespace
}  // namespace cordon::integration
