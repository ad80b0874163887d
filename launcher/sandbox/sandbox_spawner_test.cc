#include "launcher/sandbox/sandbox_spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "sandbox-profiles/seccomp_compiler.h"

namespace cordon::sandbox {
namespace {

// Both ways the listener reaches the launcher (the program sends it when its filter allows
// sendmsg; otherwise the launcher takes it with pidfd_getfd while the program waits) must
// hand over the real listener and never leave it in the program.
class SandboxSpawnerTest : public ::testing::TestWithParam<bool> {};

TEST_P(SandboxSpawnerTest, ListenerReachesTheLauncherAndNeverTheProgram) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  const bool with_channel = GetParam();
  cordon::v1::SeccompPolicy policy;
  policy.add_groups("base");
  if (with_channel) policy.add_groups("channel");
  auto program = profiles::SeccompCompiler::Compile(policy, profiles::SeccompCompileOptions{true});
  ASSERT_TRUE(program.ok()) << program.status();

  SandboxSpec spec;
  spec.program = CORDON_LISTENER_PROBE;
  spec.argv = {"listener_probe"};
  spec.seccomp_program = program->instructions;
  spec.seccomp_user_notify = true;
  auto process = SandboxSpawner::Spawn(spec);
  ASSERT_TRUE(process.ok()) << process.status();
  const int listener = (*process)->listener_fd();
  ASSERT_GE(listener, 0);

  // Answer the probe's denied ptrace with EXDEV through this listener (anything else the
  // static start-up might be denied gets EPERM, as cordon's supervisor would answer).
  bool answered_ptrace = false;
  for (int i = 0; i < 64 && !answered_ptrace; ++i) {
    struct pollfd poll_fd {
      listener, POLLIN, 0
    };
    ASSERT_EQ(poll(&poll_fd, 1, 20000), 1) << "no notification within 20 s";
    struct seccomp_notif request {};
    ASSERT_EQ(ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request), 0) << strerror(errno);
    struct seccomp_notif_resp response {};
    response.id = request.id;
    answered_ptrace = request.data.nr == __NR_ptrace;
    response.error = answered_ptrace ? -EXDEV : -EPERM;
    ASSERT_EQ(ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response), 0) << strerror(errno);
  }
  ASSERT_TRUE(answered_ptrace);

  auto exit = (*process)->Wait();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code(), 7) << "1: an fd above 2 was open in the program; 2: ptrace did "
                                     "not come back with the launcher's answer";
}

INSTANTIATE_TEST_SUITE_P(SendmsgAndPidfdGetfd, SandboxSpawnerTest, ::testing::Bool());

// cgroup v1 self-placement: the child joins through the launcher's `tasks` fds before anything
// runs, so the program starts inside the cgroup.
TEST(SandboxSpawnerCgroupTest, ChildJoinsV1CgroupThroughTasksFds) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  const std::string hierarchy = "/sys/fs/cgroup/pids";
  struct stat st;
  if (stat((hierarchy + "/tasks").c_str(), &st) != 0) GTEST_SKIP() << "no cgroup v1 pids hierarchy";
  const std::string name = "cordon-spawner-test-" + std::to_string(getpid());
  const std::string dir = hierarchy + "/" + name;
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << strerror(errno);
  struct Remove {
    std::string dir;
    ~Remove() { rmdir(dir.c_str()); }
  } remove{dir};
  int tasks = open((dir + "/tasks").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(tasks, 0) << strerror(errno);
  int stdin_pipe[2];
  ASSERT_EQ(pipe2(stdin_pipe, O_CLOEXEC), 0);

  SandboxSpec spec;
  spec.program = CORDON_LISTENER_PROBE;
  spec.argv = {"listener_probe", "wait"};
  spec.stdio[0] = stdin_pipe[0];
  spec.cgroup_v1_task_fds = {tasks};
  auto process = SandboxSpawner::Spawn(spec);
  close(tasks);
  close(stdin_pipe[0]);
  ASSERT_TRUE(process.ok()) << process.status();

  // Both init and the program are in the cgroup (the program was started from inside it).
  std::ifstream procs(dir + "/cgroup.procs");
  int count = 0;
  bool has_init = false;
  for (pid_t pid; procs >> pid;) {
    ++count;
    has_init |= pid == (*process)->pid();
  }
  EXPECT_TRUE(has_init);
  EXPECT_EQ(count, 2);
  close(stdin_pipe[1]);
  auto exit = (*process)->Wait();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code(), 7);
}

// A temporary directory of executable #! scripts, and a spec that runs one of them with the
// host's /usr, /bin, /lib and /lib64 bound read-only for its interpreter.
class ScriptDir {
 public:
  ScriptDir() {
    char name[] = "/tmp/cordon-script-XXXXXX";
    if (mkdtemp(name) != nullptr) dir_ = name;
  }
  ~ScriptDir() {
    if (!dir_.empty()) (void)!system(("rm -rf " + dir_).c_str());
  }
  // Writes "#!/bin/sh\nexit <code>\n" as `name`, mode 0755; returns its path.
  std::string Write(const std::string& name, int code) const {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\nexit " << code << "\n";
    EXPECT_EQ(chmod(path.c_str(), 0755), 0) << path;
    return path;
  }
  static SandboxSpec SpecFor(const std::string& script) {
    SandboxSpec spec;
    spec.program = script;
    spec.argv = {"script"};
    for (const char* path : {"/usr", "/bin", "/lib", "/lib64"}) {
      spec.mounts.push_back({MountSpec::Kind::kBindReadOnly, path, path, /*optional=*/true, 0});
    }
    return spec;
  }

 private:
  std::string dir_;
};

// A #! script bound into the sandbox must be the file the launcher checked: replacing the path
// after the checks (here, in before_start, while the child waits to build its mount tree)
// makes the setup fail instead of running the other file.
TEST(SandboxSpawnerScriptTest, ScriptSwappedAfterTheChecksIsNotWhatRuns) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  ScriptDir dir;
  const std::string script = dir.Write("run.sh", 7);
  const std::string other = dir.Write("other.sh", 9);
  SpawnHooks hooks;
  bool swapped = false;
  hooks.before_start = [&](pid_t) {
    swapped = rename(other.c_str(), script.c_str()) == 0;
    return absl::OkStatus();
  };
  auto process = SandboxSpawner::Spawn(ScriptDir::SpecFor(script), hooks);
  ASSERT_TRUE(swapped);
  if (process.ok()) {
    auto exit = (*process)->Wait();
    ASSERT_TRUE(exit.ok()) << exit.status();
    FAIL() << "the sandbox started after the script was swapped; exit " << exit->exit_code()
           << " (9: it ran the other file)";
  }
  EXPECT_NE(std::string(process.status().message()).find("bind-mount"), std::string::npos)
      << process.status();
  EXPECT_NE(std::string(process.status().message()).find("Stale"), std::string::npos)
      << process.status();
}

// Unswapped, the same script runs (the identity check passes for the real file).
TEST(SandboxSpawnerScriptTest, UnswappedScriptRuns) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  ScriptDir dir;
  auto process = SandboxSpawner::Spawn(ScriptDir::SpecFor(dir.Write("run.sh", 7)));
  ASSERT_TRUE(process.ok()) << process.status();
  auto exit = (*process)->Wait();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code(), 7);
}

}  // namespace
}  // namespace cordon::sandbox
