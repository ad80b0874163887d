#ifndef CORDON_TESTS_INTEGRATION_TEST_SUPPORT_H_
#define CORDON_TESTS_INTEGRATION_TEST_SUPPORT_H_

// GoogleTest helpers shared by the integration suites.

#include <sys/stat.h>

#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/cordon_runner.h"
#include "tests/integration/temp_dir.h"

namespace cordon::integration {

// `cordon run ARGS...` with an audit log and the default timeout.
inline RunResult RunCordon(std::initializer_list<std::string> args) {
  RunOptions options;
  options.args = args;
  return CordonRunner::Run(options);
}

inline RunResult RunCordon(std::vector<std::string> args) {
  RunOptions options;
  options.args = std::move(args);
  return CordonRunner::Run(options);
}

// The shipped profile NAME with each {from, to} edit applied (each `from` must occur), written
// into `dir` as NAME-edited.textproto. Fails the test and returns "" when an edit misses, so a
// reworded shipped profile cannot silently turn a test into one of the unedited profile.
inline std::string EditedProfile(const TempDir& dir, const std::string& name,
                                 const std::vector<std::pair<std::string, std::string>>& edits) {
  std::ifstream in(CordonRunner::ProfilePath(name));
  std::stringstream text;
  text << in.rdbuf();
  std::string profile = text.str();
  for (const auto& [from, to] : edits) {
    size_t at = profile.find(from);
    EXPECT_NE(at, std::string::npos) << "'" << from << "' is not in profile " << name;
    if (at == std::string::npos) return "";
    profile.replace(at, from.size(), to);
  }
  return dir.Write(name + "-edited.textproto", profile);
}

// The cgroup directory named in plugin.start's quota_backend ("cgroup v1 (...) /sys/...").
inline std::string CgroupPathOf(const RunResult& result) {
  const audit::JsonValue* start = result.Record("plugin.start");
  if (start == nullptr) return "";
  std::string backend = StringField(*start, "quota_backend");
  size_t at = backend.find(" /");
  return at == std::string::npos ? "" : backend.substr(at + 1);
}

// After a run: the sandbox init, every process that made a seccomp violation, and the run's
// cgroups are gone.
inline void ExpectNoLeftovers(const RunResult& result) {
  const audit::JsonValue* start = result.Record("plugin.start");
  ASSERT_NE(start, nullptr) << result.Describe();
  pid_t init = result.HostPid();
  ASSERT_GT(init, 0);
  EXPECT_TRUE(WaitProcessGone(init, absl::Seconds(5))) << "sandbox init " << init << " survived";
  for (const audit::JsonValue* violation : result.Records("seccomp.violation")) {
    pid_t pid = static_cast<pid_t>(IntField(*violation, "host_pid"));
    EXPECT_TRUE(WaitProcessGone(pid, absl::Seconds(5))) << "sandboxed pid " << pid << " survived";
  }
  int64_t launcher = IntField(*start, "launcher_pid");
  if (launcher <= 0) launcher = result.cordon_pid;
  EXPECT_THAT(LeftoverCgroups(static_cast<pid_t>(launcher)), ::testing::IsEmpty());
  std::string cgroup = CgroupPathOf(result);
  if (!cgroup.empty()) {
    struct stat st;
    EXPECT_NE(stat(cgroup.c_str(), &st), 0) << "cgroup " << cgroup << " left behind";
  }
  // What the harness found in its outer cgroup before it cleaned up (cordon's plugin cgroups
  // live there, below cordon's own cgroup).
  EXPECT_THAT(result.outer_leftovers, ::testing::IsEmpty()) << result.outer_net;
}

// The seccomp.violation records for one syscall name.
inline std::vector<const audit::JsonValue*> ViolationsFor(const RunResult& result,
                                                          const std::string& syscall) {
  std::vector<const audit::JsonValue*> out;
  for (const audit::JsonValue* record : result.Records("seccomp.violation")) {
    if (StringField(*record, "syscall") == syscall) out.push_back(record);
  }
  return out;
}

// args[i] of a seccomp.violation record as an unsigned 64-bit value.
inline uint64_t ViolationArg(const audit::JsonValue& record, size_t i) {
  const audit::JsonValue* args = record.Find("args");
  uint64_t value = ~0ull;
  if (args == nullptr || !args->is_array() || args->array().size() <= i) return value;
  args->array()[i].ToUint64(&value);
  return value;
}

}  // namespace cordon::integration

#endif  // CORDON_TESTS_INTEGRATION_TEST_SUPPORT_H_
