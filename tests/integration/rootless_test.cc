// Rootless: an unprivileged user (nobody, via setpriv) runs cordon with user namespaces.
// The isolation properties that do not need root hold, and quotas fall back to rlimits.
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "tests/integration/temp_dir.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

constexpr uid_t kNobody = 65534;

class RootlessTest : public ::testing::Test {
 protected:
  // The binary, the profiles and the probes copied where nobody can reach them.
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    cordon_ = dir_->Copy(CordonRunner::CordonBinary(), "cordon");
    default_profile_ = dir_->Copy(CordonRunner::ProfilePath("default"), "default.textproto", 0644);
    minimal_profile_ = dir_->Copy(CordonRunner::ProfilePath("minimal"), "minimal.textproto", 0644);
    sandbox_probe_ = dir_->Copy(CordonRunner::Probe("sandbox_probe"), "sandbox_probe");
    static_probe_ = dir_->Copy(CordonRunner::Probe("sandbox_probe", true), "sandbox_probe_static");
    syscall_probe_ = dir_->Copy(CordonRunner::Probe("syscall_probe"), "syscall_probe");
    bomb_ = dir_->Copy(CordonRunner::Probe("quota_bomb"), "quota_bomb");
    secret_ = dir_->Write("secret.txt", "ROOTLESS-SECRET\n", 0644);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_FALSE(cordon_.empty());
    ASSERT_FALSE(sandbox_probe_.empty());
    ASSERT_EQ(access("/usr/bin/setpriv", X_OK), 0) << "setpriv (util-linux) is needed";
  }

  // `setpriv --reuid=65534 ... cordon run --profile PATH ARGS...`.
  RunResult Run(std::vector<std::string> args, const std::string& profile = "",
                std::vector<std::pair<int, int>> leak_fds = {}) {
    RunOptions options;
    options.wrapper = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
    options.cordon_path = cordon_;
    options.audit_dir_owner = kNobody;
    options.args = {"--profile", profile.empty() ? default_profile_ : profile};
    options.args.insert(options.args.end(), args.begin(), args.end());
    options.leak_fds = std::move(leak_fds);
    return CordonRunner::Run(options);
  }

  static TempDir* dir_;
  static std::string cordon_, default_profile_, minimal_profile_, sandbox_probe_, static_probe_,
      syscall_probe_, bomb_, secret_;
};

TempDir* RootlessTest::dir_ = nullptr;
std::string RootlessTest::cordon_, RootlessTest::default_profile_, RootlessTest::minimal_profile_,
    RootlessTest::sandbox_probe_, RootlessTest::static_probe_, RootlessTest::syscall_probe_,
    RootlessTest::bomb_, RootlessTest::secret_;

TEST_F(RootlessTest, StartRecordSaysRootlessWithRlimits) {
  RunResult r = Run({"--", sandbox_probe_, "exit", "0"});
  const audit::JsonValue* start = r.Record("plugin.start");
  ASSERT_NE(start, nullptr) << r.Describe();
  const audit::JsonValue* rootless = start->Find("rootless");
  ASSERT_NE(rootless, nullptr);
  EXPECT_TRUE(rootless->bool_value());
  EXPECT_EQ(StringField(*start, "quota_backend"), "rlimits");
  EXPECT_EQ(IntField(*start->Find("uid_map"), "host_uid"), kNobody);
  EXPECT_EQ(IntField(*start->Find("uid_map"), "sandbox_uid"), 1000);
  EXPECT_EQ(r.exit_status, 0) << r.Describe();
  ExpectNoLeftovers(r);
}

TEST_F(RootlessTest, NoCapabilitiesNoNewPrivsSeccomp) {
  RunResult r = Run({"--", sandbox_probe_, "status"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  for (const std::string cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_EQ(r.Line("status " + cap), "status " + cap + " 0000000000000000") << r.out;
  }
  EXPECT_EQ(r.Line("status NoNewPrivs"), "status NoNewPrivs 1");
  EXPECT_EQ(r.Line("status Seccomp"), "status Seccomp 2");
}

TEST_F(RootlessTest, OwnPidAndNetNamespaces) {
  RunResult procs = Run({"--", sandbox_probe_, "procs"});
  ASSERT_EQ(procs.exit_status, 0) << procs.Describe();
  EXPECT_EQ(procs.Field("procs", "count"), "2") << procs.out;
  RunResult net = Run({"--", sandbox_probe_, "netifs"});
  EXPECT_THAT(net.Lines("netif "), ::testing::ElementsAre("netif lo")) << net.Describe();
}

TEST_F(RootlessTest, OnlyStandardFdsAndNoHostFiles) {
  int fd = open(secret_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  RunResult fds = Run({"--", sandbox_probe_, "fds"}, "", {{fd, 5}, {fd, 40}});
  close(fd);
  ASSERT_EQ(fds.exit_status, 0) << fds.Describe();
  EXPECT_EQ(fds.Lines("fd ").size(), 3u) << fds.out;
  RunResult open = Run({"--", sandbox_probe_, "open", secret_, "/proc/1/root" + secret_,
                        "/proc/self/root" + secret_});
  EXPECT_FALSE(absl::StrContains(open.out, "ROOTLESS-SECRET")) << open.out;
  EXPECT_EQ(open.Line("open " + secret_), "open " + secret_ + " ret=-1 errno=ENOENT");
}

TEST_F(RootlessTest, MountsReadOnlyAndStaticProgramUnderMinimal) {
  RunResult r = Run({"--", sandbox_probe_, "write", "/usr/x", "/tmp/x"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("write /usr/x"), "write /usr/x ret=-1 errno=EROFS");
  EXPECT_EQ(r.Line("write /tmp/x"), "write /tmp/x ret=0 errno=0");
  RunResult minimal = Run({"--", static_probe_, "ids"}, minimal_profile_);
  EXPECT_EQ(minimal.Line("ids"), "ids uid=1000 euid=1000 gid=1000 egid=1000 groups=0")
      << minimal.Describe();
}

TEST_F(RootlessTest, DeniedSyscallIsEpermAndRecorded) {
  RunResult r = Run({"--", syscall_probe_, "keyctl", "unshare_user", "socket_inet"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("keyctl"), "keyctl ret=-1 errno=EPERM");
  EXPECT_EQ(r.Line("unshare_user"), "unshare_user ret=-1 errno=EPERM");
  EXPECT_EQ(r.Line("socket_inet"), "socket_inet ret=-1 errno=EPERM");
  EXPECT_EQ(r.Records("seccomp.violation").size(), 3u) << r.Describe();
}

TEST_F(RootlessTest, MemoryQuotaFallsBackToRlimitAs) {
  RunResult r = Run({"--memory", "64M", "--", bomb_, "memory", "1024"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  // RLIMIT_AS: the allocation fails instead of an OOM kill.
  EXPECT_EQ(r.Field("memory", "errno"), "ENOMEM") << r.out;
  std::string mb = r.Field("memory", "mb");
  ASSERT_FALSE(mb.empty()) << r.out;
  EXPECT_LT(std::stoi(mb), 64);
  ExpectNoLeftovers(r);
}

TEST_F(RootlessTest, PidsQuotaFallsBackToRlimitNproc) {
  RunResult r = Run({"--pids", "16", "--", bomb_, "forks", "2000"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Field("forks", "errno"), "EAGAIN") << r.out;
  std::string made = r.Field("forks", "made");
  ASSERT_FALSE(made.empty()) << r.out;
  EXPECT_LE(std::stoi(made), 16);
  ExpectNoLeftovers(r);
}

// Without a cgroup nothing can cap a CPU rate: cordon says so on one stderr line and in
// plugin.start (unenforced_quotas, quota_notes) instead of dropping --cpu-rate silently.
TEST_F(RootlessTest, CpuRateWithoutACgroupIsAWarningAndAnAuditField) {
  RunResult r = Run({"--cpu-rate", "10", "--", sandbox_probe_, "exit", "0"});
  std::vector<std::string> warnings;
  for (absl::string_view line : absl::StrSplit(r.err, '\n')) {
    if (absl::StrContains(line, "cpu_rate")) warnings.emplace_back(line);
  }
  ASSERT_EQ(warnings.size(), 1u) << r.err;
  EXPECT_EQ(warnings[0],
            "cordon run: warning: cpu_rate 10% is NOT enforced: rootless cordon has no cgroup "
            "and no rlimit caps a CPU rate; run as root with a cgroup cpu controller, or bound "
            "CPU time with --cpu-time");
  const audit::JsonValue* start = r.Record("plugin.start");
  ASSERT_NE(start, nullptr) << r.Describe();
  const audit::JsonValue* unenforced = start->Find("unenforced_quotas");
  ASSERT_NE(unenforced, nullptr) << r.audit_text;
  ASSERT_TRUE(unenforced->is_array());
  ASSERT_EQ(unenforced->array().size(), 1u);
  EXPECT_EQ(unenforced->array()[0].string_value(), "cpu_rate");
  EXPECT_EQ(r.exit_status, 0) << r.Describe();
}

// The sandbox hands its /tmp to the launcher itself, so a full /tmp is recorded rootless too
// (a rootless launcher may not look through the non-dumpable init's /proc/<pid>/root).
TEST_F(RootlessTest, FullTmpIsRecorded) {
  RunResult r = Run({"--tmp-size", "1M", "--", bomb_, "fill", "/tmp/fill", "8"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Field("fill", "errno"), "ENOSPC") << r.out;
  EXPECT_THAT(r.err, ::testing::Not(::testing::HasSubstr("warning"))) << r.err;
  const audit::JsonValue* full = nullptr;
  for (const audit::JsonValue* q : r.Records("quota.violation")) {
    if (StringField(*q, "quota") == "tmp_size") full = q;
  }
  ASSERT_NE(full, nullptr) << r.Describe();
  EXPECT_EQ(IntField(*full, "limit"), 1 << 20);
  EXPECT_EQ(StringField(*full, "action"), "denied");
  ExpectNoLeftovers(r);
}

// Memory and pids fall back to rlimits: nothing is unenforced, nothing to warn about.
TEST_F(RootlessTest, NoCpuRateNoWarning) {
  RunResult r = Run({"--memory", "64M", "--", sandbox_probe_, "exit", "0"});
  EXPECT_THAT(r.err, ::testing::Not(::testing::HasSubstr("warning"))) << r.err;
  const audit::JsonValue* start = r.Record("plugin.start");
  ASSERT_NE(start, nullptr) << r.Describe();
  EXPECT_FALSE(HasField(*start, "unenforced_quotas")) << r.audit_text;
}

}  // namespace
}  // namespace cordon::integration
