#include "sandbox-profiles/profile_validator.h"

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace cordon::profiles {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

cordon::v1::Profile Parse(const std::string& text) {
  cordon::v1::Profile profile;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &profile)) << text;
  return profile;
}

// A valid profile plus `extra`.
cordon::v1::Profile With(const std::string& extra) {
  if (extra.find("seccomp") != std::string::npos) return Parse(extra);
  return Parse("seccomp { groups: 'base' }\n" + extra);
}

// The single issue `extra` causes.
ProfileIssue OnlyIssue(const std::string& extra) {
  std::vector<ProfileIssue> issues = ProfileValidator::Check(With(extra));
  EXPECT_EQ(issues.size(), 1u) << extra;
  return issues.empty() ? ProfileIssue{} : issues[0];
}

TEST(ProfileValidatorTest, AcceptsAMinimalValidProfile) {
  EXPECT_THAT(ProfileValidator::Check(With("")), IsEmpty());
  EXPECT_THAT(ProfileValidator::Check(With(R"(
    name: "x" hostname: "box-1" workdir: "/tmp" env: "A_1=b=c" env: "EMPTY="
    mounts { type: BIND_RO source: "/usr" }
    mounts { type: BIND_RW source: "/var/tmp" destination: "/data" optional: true }
    mounts { type: TMPFS destination: "/tmp" size_bytes: 1 }
    limits { memory_bytes: 4194304 pids: 2 open_files: 4 }
    seccomp { groups: "base" allow: "setuid" deny: "kill" danger_allow: "ptrace" })")),
              IsEmpty());
}

TEST(ProfileValidatorTest, PathProblems) {
  EXPECT_EQ(ProfileValidator::PathProblem("/usr/lib"), "");
  EXPECT_EQ(ProfileValidator::PathProblem("/"), "");
  EXPECT_THAT(ProfileValidator::PathProblem("usr"), HasSubstr("absolute"));
  EXPECT_THAT(ProfileValidator::PathProblem("/usr/../etc"), HasSubstr(".."));
  EXPECT_THAT(ProfileValidator::PathProblem("/usr/./lib"), HasSubstr("'.'"));
  EXPECT_THAT(ProfileValidator::PathProblem("/usr//lib"), HasSubstr("empty"));
  EXPECT_THAT(ProfileValidator::PathProblem("/usr/"), HasSubstr("trailing"));
  EXPECT_THAT(ProfileValidator::PathProblem(std::string("/a\0b", 4)), HasSubstr("NUL"));
  EXPECT_THAT(ProfileValidator::PathProblem(""), HasSubstr("absolute"));
}

TEST(ProfileValidatorTest, MountErrorsNameFieldAndFix) {
  struct Case {
    const char* text;
    const char* field;
    const char* needle;
  } cases[] = {
      {"mounts { source: '/usr' }", "mounts[0].type", "BIND_RO"},
      {"mounts { type: BIND_RO }", "mounts[0].source", "missing"},
      {"mounts { type: BIND_RO source: 'usr' }", "mounts[0].source", "absolute"},
      {"mounts { type: BIND_RO source: '/usr/../etc' }", "mounts[0].source", ".."},
      {"mounts { type: BIND_RO source: '/usr' size_bytes: 5 }", "mounts[0].size_bytes", "TMPFS"},
      {"mounts { type: TMPFS destination: '/tmp' }", "mounts[0].size_bytes", "size cap"},
      {"mounts { type: TMPFS size_bytes: 1 }", "mounts[0].destination", "missing"},
      {"mounts { type: TMPFS source: '/x' destination: '/tmp' size_bytes: 1 }", "mounts[0].source",
       "no source"},
      {"mounts { type: TMPFS destination: '/proc' size_bytes: 1 }", "mounts[0].destination",
       "/proc"},
      {"mounts { type: BIND_RO source: '/dev/shm' }", "mounts[0].source", "/dev"},
      {"mounts { type: BIND_RO source: '/x' destination: '/proc/sys' }", "mounts[0].destination",
       "reserved"},
      {"mounts { type: BIND_RO source: '/x' destination: '/' }", "mounts[0].destination", "over /"},
      {"mounts { type: BIND_RO source: '/usr' } mounts { type: BIND_RW source: '/usr' }",
       "mounts[1].source", "already"},
  };
  for (const Case& c : cases) {
    ProfileIssue issue = OnlyIssue(c.text);
    EXPECT_EQ(issue.field, c.field) << c.text;
    EXPECT_THAT(issue.message, HasSubstr(c.needle)) << c.text;
  }
  // /procfoo is not /proc.
  EXPECT_THAT(ProfileValidator::Check(With("mounts { type: BIND_RO source: '/procfoo' }")),
              IsEmpty());
}

TEST(ProfileValidatorTest, EnvIdsHostnameWorkdirLimits) {
  struct Case {
    const char* text;
    const char* field;
    const char* needle;
  } cases[] = {
      {"env: 'NOEQUALS'", "env[0]", "KEY=VALUE"},
      {"env: '1X=y'", "env[0]", "variable name"},
      {"env: 'A-B=y'", "env[0]", "variable name"},
      {"env: '=y'", "env[0]", "variable name"},
      {"env: 'A=1' env: 'A=2'", "env[1]", "second time"},
      {"env: 'A=x\\000y'", "env[0]", "NUL"},
      {"user { host_uid: 4294967295 }", "user.host_uid", "not a usable id"},
      {"hostname: 'bad host'", "hostname", "not a hostname"},
      {"workdir: 'tmp'", "workdir", "absolute"},
      {"name: 'a/b'", "name", "may only contain"},
      {"limits { memory_bytes: 1000 }", "limits.memory_bytes", "4 MiB"},
      {"limits { pids: 1 }", "limits.pids", "init"},
      {"limits { open_files: 2 }", "limits.open_files", "4..1048576"},
      {"limits { stack_bytes: 4096 }", "limits.stack_bytes", "64 KiB"},
      {"limits { cpu_rate_percent: 200000 }", "limits.cpu_rate_percent", "cores"},
  };
  for (const Case& c : cases) {
    ProfileIssue issue = OnlyIssue(c.text);
    EXPECT_EQ(issue.field, c.field) << c.text;
    EXPECT_THAT(issue.message, HasSubstr(c.needle)) << c.text;
  }
}

TEST(ProfileValidatorTest, SeccompNames) {
  struct Case {
    const char* text;
    const char* field;
    const char* needle;
  } cases[] = {
      {"seccomp { groups: 'base' groups: 'networking' }", "seccomp.groups[1]", "known groups"},
      {"seccomp { groups: 'base' allow: 'opn' }", "seccomp.allow[0]", "unknown x86_64 syscall"},
      {"seccomp { groups: 'base' allow: 'mount' }", "seccomp.allow[0]", "danger_allow"},
      {"seccomp { groups: 'base' allow: 'clone3' }", "seccomp.allow[0]", "ENOSYS"},
      {"seccomp { groups: 'base' danger_allow: 'read' }", "seccomp.danger_allow[0]",
       "seccomp.allow"},
      {"seccomp { groups: 'base' deny: 'socketcall' }", "seccomp.deny[0]", "unknown"},
      {"seccomp { groups: 'base' deny: 'execveat' }", "seccomp", "execveat"},
  };
  for (const Case& c : cases) {
    ProfileIssue issue = OnlyIssue(c.text);
    EXPECT_EQ(issue.field, c.field) << c.text;
    EXPECT_THAT(issue.message, HasSubstr(c.needle)) << c.text;
  }
  EXPECT_EQ(ProfileValidator::Check(Parse("")).size(), 1u);  // no groups: nothing can exec
}

TEST(ProfileValidatorTest, ValidateFoldsIssuesIntoOneStatus) {
  absl::Status status = ProfileValidator::Validate(With("env: 'x' workdir: 'y'"), "p.textproto");
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("p.textproto: env[0]: "));
  EXPECT_THAT(status.message(), HasSubstr("\np.textproto: workdir: "));
  EXPECT_TRUE(ProfileValidator::Validate(With(""), "p").ok());
}

}  // namespace
}  // namespace cordon::profiles
