// Only the profile's mounts are visible, read-only, nosuid, nodev; a fresh /proc; a minimal
// /dev; host files outside the mounts are unreachable, also through /proc/self/root,
// /proc/1/root and "..". PROGRAM runs even when its directory is not mounted.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "tests/integration/temp_dir.h"
#include "tests/integration/test_support.h"

namespace cordon::integration {
namespace {

using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

struct MountLine {
  std::string options;
  std::string fstype;
};

std::map<std::string, MountLine> Mounts(const RunResult& r) {
  std::map<std::string, MountLine> mounts;
  for (const std::string& line : r.Lines("mount ")) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() == 4) mounts[f[1]] = {f[2], f[3]};
  }
  return mounts;
}

bool HasOption(const std::string& options, const std::string& option) {
  for (absl::string_view o : absl::StrSplit(options, ',')) {
    if (o == option) return true;
  }
  return false;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// The default profile's bind destinations that exist on this host.
std::set<std::string> DefaultBinds() {
  std::set<std::string> binds;
  for (const char* path :
       {"/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc/ld.so.cache",
        "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
        "/etc/localtime", "/etc/alternatives"}) {
    if (Exists(path)) binds.insert(path);
  }
  return binds;
}

const std::set<std::string> kProcMounts = {"/proc",     "/proc/sys", "/proc/irq",
                                           "/proc/bus", "/proc/fs",  "/proc/acpi"};
const std::set<std::string> kDevMounts = {"/dev",      "/dev/null",   "/dev/zero",
                                          "/dev/full", "/dev/random", "/dev/urandom"};

TEST(Mounts, DefaultProfileShowsOnlyItsMountsReadOnlyNosuidNodev) {
  RunResult r = RunCordon({"--", CordonRunner::Probe("sandbox_probe"), "mounts"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  std::map<std::string, MountLine> mounts = Mounts(r);
  std::set<std::string> expected = DefaultBinds();
  expected.insert({"/", "/tmp"});
  for (const std::string& m : kProcMounts) {
    if (Exists(m)) expected.insert(m);
  }
  expected.insert(kDevMounts.begin(), kDevMounts.end());
  std::set<std::string> seen;
  for (const auto& [point, line] : mounts) seen.insert(point);
  EXPECT_EQ(seen, expected) << r.out;

  for (const std::string& bind : DefaultBinds()) {
    SCOPED_TRACE(bind);
    ASSERT_TRUE(mounts.count(bind));
    EXPECT_TRUE(HasOption(mounts[bind].options, "ro")) << mounts[bind].options;
    EXPECT_TRUE(HasOption(mounts[bind].options, "nosuid")) << mounts[bind].options;
    EXPECT_TRUE(HasOption(mounts[bind].options, "nodev")) << mounts[bind].options;
  }
  for (const std::string point : {"/", "/proc/sys"}) {
    SCOPED_TRACE(point);
    EXPECT_TRUE(HasOption(mounts[point].options, "ro")) << mounts[point].options;
    EXPECT_TRUE(HasOption(mounts[point].options, "nosuid")) << mounts[point].options;
    EXPECT_TRUE(HasOption(mounts[point].options, "nodev")) << mounts[point].options;
  }
  // /tmp is the only writable place: a size-capped tmpfs, still nosuid,nodev.
  EXPECT_EQ(mounts["/tmp"].fstype, "tmpfs");
  EXPECT_TRUE(HasOption(mounts["/tmp"].options, "rw"));
  EXPECT_TRUE(HasOption(mounts["/tmp"].options, "nosuid"));
  EXPECT_TRUE(HasOption(mounts["/tmp"].options, "nodev"));
  // A fresh procfs, not a bind of the host's.
  EXPECT_EQ(mounts["/proc"].fstype, "proc");
  EXPECT_TRUE(HasOption(mounts["/dev"].options, "ro"));
  EXPECT_TRUE(HasOption(mounts["/dev"].options, "nosuid"));
  EXPECT_TRUE(HasOption(mounts["/dev"].options, "noexec"));
}

TEST(Mounts, MinimalProfileMountsNothingOfTheHost) {
  RunResult r = RunCordon(
      {"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe", true), "mounts"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  std::set<std::string> expected = {"/", "/tmp"};
  for (const std::string& m : kProcMounts) {
    if (Exists(m)) expected.insert(m);
  }
  expected.insert(kDevMounts.begin(), kDevMounts.end());
  std::set<std::string> seen;
  for (const auto& [point, line] : Mounts(r)) seen.insert(point);
  EXPECT_EQ(seen, expected) << r.out;
}

TEST(Mounts, WritesToReadOnlyMountsFailWithErofs) {
  RunResult r = RunCordon({"--", CordonRunner::Probe("sandbox_probe"), "write", "/usr/cordon-probe",
                           "/bin/cordon-probe", "/etc/passwd", "/cordon-probe", "/dev/cordon-probe",
                           "/proc/sys/kernel/hostname", "/tmp/cordon-probe"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("write /usr/cordon-probe"), "write /usr/cordon-probe ret=-1 errno=EROFS");
  EXPECT_EQ(r.Line("write /bin/cordon-probe"), "write /bin/cordon-probe ret=-1 errno=EROFS");
  // Owned by unmapped host root: permission (EACCES) is checked before the mount's ro flag.
  EXPECT_THAT(r.Line("write /etc/passwd"),
              ::testing::AnyOf("write /etc/passwd ret=-1 errno=EROFS",
                               "write /etc/passwd ret=-1 errno=EACCES"));
  EXPECT_EQ(r.Line("write /cordon-probe"), "write /cordon-probe ret=-1 errno=EROFS");
  EXPECT_EQ(r.Line("write /dev/cordon-probe"), "write /dev/cordon-probe ret=-1 errno=EROFS");
  EXPECT_THAT(r.Line("write /proc/sys/kernel/hostname"),
              ::testing::AnyOf("write /proc/sys/kernel/hostname ret=-1 errno=EROFS",
                               "write /proc/sys/kernel/hostname ret=-1 errno=EACCES"));
  EXPECT_EQ(r.Line("write /tmp/cordon-probe"), "write /tmp/cordon-probe ret=0 errno=0");
  EXPECT_FALSE(Exists("/usr/cordon-probe"));
}

TEST(Mounts, MinimalDevContainsOnlyHarmlessDevices) {
  RunResult r =
      RunCordon({"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe", true), "dev"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_THAT(r.Lines("dev "),
              UnorderedElementsAre("dev null", "dev zero", "dev full", "dev random", "dev urandom",
                                   "dev fd", "dev stdin", "dev stdout", "dev stderr"));
  RunResult open =
      RunCordon({"--profile", "minimal", "--", CordonRunner::Probe("sandbox_probe", true), "open",
                 "/dev/zero", "/dev/urandom", "/dev/tty", "/dev/mem", "/dev/vda"});
  EXPECT_EQ(open.Line("open /dev/zero"), "open /dev/zero ret=0 errno=0");
  EXPECT_EQ(open.Line("open /dev/urandom"), "open /dev/urandom ret=0 errno=0");
  EXPECT_EQ(open.Line("open /dev/tty"), "open /dev/tty ret=-1 errno=ENOENT");
  EXPECT_EQ(open.Line("open /dev/mem"), "open /dev/mem ret=-1 errno=ENOENT");
  EXPECT_EQ(open.Line("open /dev/vda"), "open /dev/vda ret=-1 errno=ENOENT");
}

// A host file the sandbox uid could read if it could name it (0644 in a 0755 directory).
class HostSecretTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secret_ = dir_.Write("secret.txt", "HOST-SECRET-b7c1\n", 0644);
    ASSERT_FALSE(secret_.empty());
  }
  TempDir dir_;
  std::string secret_;
};

TEST_F(HostSecretTest, UnreachableByAnyPath) {
  // /root exists on the host (this suite runs as root) and is outside every profile mount.
  std::vector<std::string> paths = {secret_,
                                    "/proc/self/root" + secret_,
                                    "/proc/1/root" + secret_,
                                    "/proc/2/root" + secret_,
                                    "../../../../../.." + secret_,
                                    "/tmp/../../.." + secret_,
                                    "/proc/self/cwd/../../.." + secret_,
                                    "/root/.bashrc",
                                    "/proc/1/root/root/.bashrc",
                                    "/etc/shadow",
                                    "/etc/hostname"};
  for (bool is_static : {false, true}) {
    SCOPED_TRACE(is_static ? "static/minimal" : "dynamic/default");
    std::vector<std::string> args;
    if (is_static) args = {"--profile", "minimal"};
    args.push_back("--");
    args.push_back(CordonRunner::Probe("sandbox_probe", is_static));
    args.push_back("open");
    args.insert(args.end(), paths.begin(), paths.end());
    RunResult r = RunCordon(args);
    ASSERT_EQ(r.exit_status, 0) << r.Describe();
    EXPECT_FALSE(absl::StrContains(r.out, "HOST-SECRET")) << r.out;
    for (const std::string& path : paths) {
      std::string line = r.Line("open " + path);
      ASSERT_FALSE(line.empty()) << path << "\n" << r.out;
      // ENOENT: not in the mount tree. EACCES: /proc/1 is the non-dumpable init.
      EXPECT_TRUE(line == "open " + path + " ret=-1 errno=ENOENT" ||
                  line == "open " + path + " ret=-1 errno=EACCES")
          << line;
    }
  }
}

TEST_F(HostSecretTest, RoBindShowsFileReadOnlyAndBindIsWritable) {
  // World-writable on the host, so only the read-only bind can refuse the writes below.
  ASSERT_EQ(chmod(dir_.path().c_str(), 0777), 0);
  ASSERT_EQ(chmod(secret_.c_str(), 0666), 0);
  RunResult r = RunCordon({"--ro-bind", dir_.path() + ":/data", "--",
                           CordonRunner::Probe("sandbox_probe"), "open", "/data/secret.txt"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("open /data/secret.txt"), "open /data/secret.txt ret=0 errno=0");
  EXPECT_EQ(r.Line("content"), "content HOST-SECRET-b7c1");
  RunResult w = RunCordon({"--ro-bind", dir_.path() + ":/data", "--",
                           CordonRunner::Probe("sandbox_probe"), "write", "/data/new"});
  EXPECT_EQ(w.Line("write /data/new"), "write /data/new ret=-1 errno=EROFS") << w.Describe();
  EXPECT_FALSE(Exists(dir_.File("new")));
  RunResult existing =
      RunCordon({"--ro-bind", dir_.path() + ":/data", "--", CordonRunner::Probe("sandbox_probe"),
                 "write", "/data/secret.txt"});
  EXPECT_EQ(existing.Line("write /data/secret.txt"), "write /data/secret.txt ret=-1 errno=EROFS")
      << existing.Describe();

  RunResult rw = RunCordon({"--bind", dir_.path() + ":/data", "--",
                            CordonRunner::Probe("sandbox_probe"), "write", "/data/new"});
  EXPECT_EQ(rw.Line("write /data/new"), "write /data/new ret=0 errno=0") << rw.Describe();
  struct stat st;
  ASSERT_EQ(stat(dir_.File("new").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1);
  EXPECT_EQ(st.st_uid, 65534u) << "written as the unprivileged host uid";
}

TEST(ProgramOutsideMountTree, StaticProbeInHostTempDirRunsUnderMinimal) {
  TempDir dir;
  std::string probe = dir.Copy(CordonRunner::Probe("sandbox_probe", true), "probe");
  ASSERT_FALSE(probe.empty());
  RunResult r = RunCordon({"--profile", "minimal", "--", probe, "open", probe});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  // It ran, yet its own directory is not visible inside.
  EXPECT_EQ(r.Line("open " + probe), "open " + probe + " ret=-1 errno=ENOENT");
  const audit::JsonValue* start = r.Record("plugin.start");
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(StringField(*start, "program"), probe);
}

// /proc/self/exe is a path back to the host file of the program, outside the mount tree.
// Even when the host file is world-writable it must not become writable from inside.
TEST(ProgramOutsideMountTree, ProgramCannotRewriteItsHostBinary) {
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  std::string probe = dir.Copy(CordonRunner::Probe("sandbox_probe", true), "probe", 0777);
  ASSERT_FALSE(probe.empty());
  struct stat before;
  ASSERT_EQ(stat(probe.c_str(), &before), 0);
  RunResult r =
      RunCordon({"--profile", "minimal", "--", probe, "write", "/proc/self/exe", "/proc/1/exe"});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("write /proc/self/exe"), "write /proc/self/exe ret=-1 errno=ETXTBSY");
  EXPECT_THAT(r.Line("write /proc/1/exe"),
              ::testing::AnyOf("write /proc/1/exe ret=-1 errno=EACCES",
                               "write /proc/1/exe ret=-1 errno=ENOENT"));
  struct stat after;
  ASSERT_EQ(stat(probe.c_str(), &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_EQ(after.st_mtime, before.st_mtime);
}

TEST(ProgramOutsideMountTree, DynamicProbeInHostTempDirRunsUnderDefault) {
  TempDir dir;
  std::string probe = dir.Copy(CordonRunner::Probe("sandbox_probe"), "probe");
  ASSERT_FALSE(probe.empty());
  RunResult r = RunCordon({"--", probe, "open", probe});
  ASSERT_EQ(r.exit_status, 0) << r.Describe();
  EXPECT_EQ(r.Line("open " + probe), "open " + probe + " ret=-1 errno=ENOENT");
}

}  // namespace
}  // namespace cordon::integration
