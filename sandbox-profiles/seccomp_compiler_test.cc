#include "sandbox-profiles/seccomp_compiler.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox-profiles/bpf_evaluator.h"
#include "sandbox-profiles/syscall_groups.h"

namespace cordon::profiles {
namespace {

using cordon::v1::SeccompPolicy;

constexpr uint32_t kEperm = SECCOMP_RET_ERRNO | EPERM;
constexpr uint32_t kEnosys = SECCOMP_RET_ERRNO | ENOSYS;

SeccompPolicy DefaultLikePolicy() {
  SeccompPolicy policy;
  for (const char* g : {"base", "file-read", "file-write", "process", "ipc-unix"}) {
    policy.add_groups(g);
  }
  return policy;
}

SeccompProgram CompileOrDie(const SeccompPolicy& policy, bool user_notify = false) {
  auto program = SeccompCompiler::Compile(policy, SeccompCompileOptions{user_notify});
  EXPECT_TRUE(program.ok()) << program.status();
  return program.ok() ? *program : SeccompProgram{};
}

uint32_t Eval(const SeccompProgram& program, long nr, std::vector<uint64_t> args = {},
              uint32_t arch = AUDIT_ARCH_X86_64) {
  seccomp_data data{};
  data.nr = static_cast<int>(nr);
  data.arch = arch;
  data.instruction_pointer = 0x401000;
  for (size_t i = 0; i < args.size() && i < 6; ++i) data.args[i] = args[i];
  auto result = BpfEvaluator::Evaluate(program.instructions, data);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : 0xdeadbeef;
}

class SeccompCompilerModes : public ::testing::TestWithParam<bool> {
 protected:
  bool notify() const { return GetParam(); }
  uint32_t violation() const { return notify() ? SECCOMP_RET_USER_NOTIF : kEperm; }
  uint32_t bad_arch() const { return notify() ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_KILL_PROCESS; }
  SeccompProgram program_ = CompileOrDie(DefaultLikePolicy(), GetParam());
};

TEST_P(SeccompCompilerModes, ForeignArchitectureNeverReachesTheAllowlist) {
  for (long nr = 0; nr < 450; ++nr) {
    ASSERT_EQ(Eval(program_, nr, {}, AUDIT_ARCH_I386), bad_arch()) << "i386 nr " << nr;
  }
}

TEST_P(SeccompCompilerModes, X32NumbersNeverReachTheAllowlist) {
  for (long nr : {0L, 1L, 39L, 59L, 512L, 547L}) {
    EXPECT_EQ(Eval(program_, 0x40000000 | nr), bad_arch()) << "x32 nr " << nr;
  }
  EXPECT_EQ(Eval(program_, 0x7fffffff), bad_arch());
}

// -1 (what a tracer uses to skip a call) and other numbers with bit 31 set have bit 30 set too,
// but they are no ABI's syscall: denied with the violation action, never killed as "x32".
TEST_P(SeccompCompilerModes, NegativeNumbersGetTheViolationActionNotTheX32Kill) {
  for (long nr : {0xffffffffL, 0xfffffffeL, 0x80000000L, 0xc0000027L}) {
    EXPECT_EQ(Eval(program_, nr), violation()) << "nr 0x" << std::hex << nr;
  }
  if (!notify()) {
    EXPECT_NE(violation(), bad_arch());  // the two answers differ here
  }
}

TEST_P(SeccompCompilerModes, AllowedSyscallsAreAllowed) {
  const std::set<std::string> argument_checked = {"clone", "socket",      "socketpair",
                                                  "prctl", "personality", "ioctl"};
  ASSERT_GT(program_.allowed_syscalls.size(), 150u);
  EXPECT_TRUE(std::is_sorted(program_.allowed_syscalls.begin(), program_.allowed_syscalls.end()));
  for (const std::string& name : program_.allowed_syscalls) {
    if (argument_checked.count(name)) continue;
    EXPECT_EQ(Eval(program_, *SyscallGroups::Number(name)), SECCOMP_RET_ALLOW) << name;
  }
}

TEST_P(SeccompCompilerModes, OtherSyscallsGetTheViolationAction) {
  for (std::string_view name : SyscallGroups::NeverAllowed()) {
    EXPECT_EQ(Eval(program_, *SyscallGroups::Number(name)), violation()) << name;
  }
  for (const char* name : {"setuid", "shmget", "seccomp", "mlock", "pidfd_getfd"}) {
    EXPECT_EQ(Eval(program_, *SyscallGroups::Number(name)), violation()) << name;
  }
  EXPECT_EQ(Eval(program_, 1000), violation());  // beyond the table
}

TEST_P(SeccompCompilerModes, CloneRefusesEveryNamespaceFlag) {
  const uint64_t thread_flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                                CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                                CLONE_CHILD_CLEARTID;
  EXPECT_EQ(Eval(program_, __NR_clone, {thread_flags}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Eval(program_, __NR_clone, {SIGCHLD}), SECCOMP_RET_ALLOW);  // fork()
  EXPECT_EQ(Eval(program_, __NR_clone, {CLONE_VM | CLONE_VFORK | SIGCHLD}), SECCOMP_RET_ALLOW);
  for (uint64_t ns :
       std::initializer_list<uint64_t>{CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                       CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET}) {
    EXPECT_EQ(Eval(program_, __NR_clone, {ns | SIGCHLD}), violation()) << std::hex << ns;
    EXPECT_EQ(Eval(program_, __NR_clone, {ns | thread_flags}), violation()) << std::hex << ns;
  }
  // The exit signal: none (threads, CLONE_THREAD) or SIGCHLD; anything else could make the
  // kernel send the parent SIGXFSZ or SIGXCPU and dress a death up as a quota kill.
  for (uint64_t sig : {SIGXFSZ, SIGXCPU, SIGKILL, SIGUSR1, 0x7f, 0xff}) {
    EXPECT_EQ(Eval(program_, __NR_clone, {sig}), violation()) << sig;
    EXPECT_EQ(Eval(program_, __NR_clone, {CLONE_VM | CLONE_VFORK | sig}), violation()) << sig;
  }
  EXPECT_EQ(Eval(program_, __NR_clone, {0}), SECCOMP_RET_ALLOW);
  // Bits above the low 32 are not the kernel's flags' business here (it takes an int).
  EXPECT_EQ(Eval(program_, __NR_clone, {0xdead00000000ull | SIGCHLD}), SECCOMP_RET_ALLOW);
}

TEST_P(SeccompCompilerModes, Clone3AlwaysAnswersEnosys) {
  EXPECT_EQ(Eval(program_, __NR_clone3, {0, 88}), kEnosys);
  SeccompPolicy bare;
  bare.add_groups("base");
  EXPECT_EQ(Eval(CompileOrDie(bare, notify()), __NR_clone3), kEnosys);
}

TEST_P(SeccompCompilerModes, SocketsOnlyUnixDomain) {
  for (long nr : {static_cast<long>(__NR_socket), static_cast<long>(__NR_socketpair)}) {
    EXPECT_EQ(Eval(program_, nr, {AF_UNIX, SOCK_STREAM}), SECCOMP_RET_ALLOW) << nr;
    EXPECT_EQ(Eval(program_, nr, {AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC}), SECCOMP_RET_ALLOW);
    // The kernel reads the domain as an int: junk in the high word still means AF_UNIX.
    EXPECT_EQ(Eval(program_, nr, {0xffffffff00000000ull | AF_UNIX}), SECCOMP_RET_ALLOW);
    for (uint64_t domain : std::initializer_list<uint64_t>{AF_INET, AF_INET6, AF_NETLINK, AF_PACKET,
                                                           AF_UNSPEC, AF_VSOCK}) {
      EXPECT_EQ(Eval(program_, nr, {domain, SOCK_STREAM}), violation()) << nr << "/" << domain;
    }
  }
}

TEST_P(SeccompCompilerModes, IoctlRefusesTerminalInjectionOnLow32Bits) {
  EXPECT_EQ(Eval(program_, __NR_ioctl, {0, TCGETS}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Eval(program_, __NR_ioctl, {0, TIOCGWINSZ}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Eval(program_, __NR_ioctl, {3, FIONREAD}), SECCOMP_RET_ALLOW);
  for (uint64_t request :
       {0x5412ull, 0x541Cull, 0x100005412ull, 0xdeadbeef00005412ull, 0xffffffff0000541cull}) {
    EXPECT_EQ(Eval(program_, __NR_ioctl, {0, request}), violation()) << std::hex << request;
  }
  // An ioctl argument that merely contains 0x5412 elsewhere is not TIOCSTI.
  EXPECT_EQ(Eval(program_, __NR_ioctl, {0, 0x54120000ull}), SECCOMP_RET_ALLOW);
}

TEST_P(SeccompCompilerModes, NoProcessMaySendTheRlimitSignals) {
  // kill-family calls are in the default groups; other signals pass.
  EXPECT_EQ(Eval(program_, __NR_kill, {0, SIGTERM}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Eval(program_, __NR_tgkill, {1, 2, SIGUSR1}), SECCOMP_RET_ALLOW);
  for (uint64_t sig : std::initializer_list<uint64_t>{SIGXCPU, SIGXFSZ, 0xffffffff00000000ull | SIGXFSZ}) {
    EXPECT_EQ(Eval(program_, __NR_kill, {0, sig}), violation()) << sig;
    EXPECT_EQ(Eval(program_, __NR_tkill, {2, sig}), violation()) << sig;
    EXPECT_EQ(Eval(program_, __NR_rt_sigqueueinfo, {2, sig, 0}), violation()) << sig;
    EXPECT_EQ(Eval(program_, __NR_tgkill, {2, 2, sig}), violation()) << sig;
    EXPECT_EQ(Eval(program_, __NR_rt_tgsigqueueinfo, {2, 2, sig, 0}), violation()) << sig;
  }
  // The signal number's position matters: tgkill's args[1] is a tid, not a signal.
  EXPECT_EQ(Eval(program_, __NR_tgkill, {1, SIGXCPU, SIGTERM}), SECCOMP_RET_ALLOW);
}

TEST_P(SeccompCompilerModes, PersonalityOnlyLinuxOrQuery) {
  EXPECT_EQ(Eval(program_, __NR_personality, {PER_LINUX}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Eval(program_, __NR_personality, {0xffffffff}), SECCOMP_RET_ALLOW);
  for (uint64_t p : std::initializer_list<uint64_t>{ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC,
                                                    PER_LINUX32, MMAP_PAGE_ZERO}) {
    EXPECT_EQ(Eval(program_, __NR_personality, {p}), violation()) << std::hex << p;
  }
}

TEST_P(SeccompCompilerModes, PrctlOnlySafeOptions) {
  for (uint64_t option : std::initializer_list<uint64_t>{
           PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, PR_GET_DUMPABLE}) {
    EXPECT_EQ(Eval(program_, __NR_prctl, {option}), SECCOMP_RET_ALLOW) << option;
  }
  for (uint64_t option : std::initializer_list<uint64_t>{
           PR_SET_MM, PR_SET_PTRACER, PR_SET_SECCOMP, PR_CAP_AMBIENT, PR_SET_SECUREBITS,
           PR_SET_KEEPCAPS, PR_SET_SPECULATION_CTRL, PR_SET_DUMPABLE, 0}) {
    EXPECT_EQ(Eval(program_, __NR_prctl, {option}), violation()) << option;
  }
}

INSTANTIATE_TEST_SUITE_P(EpermAndUserNotify, SeccompCompilerModes, ::testing::Bool());

TEST(SeccompCompilerTest, KillPolicyKillsViolations) {
  SeccompPolicy policy = DefaultLikePolicy();
  policy.set_on_violation(SeccompPolicy::KILL);
  SeccompProgram program = CompileOrDie(policy);
  EXPECT_EQ(Eval(program, __NR_ptrace), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Eval(program, __NR_socket, {AF_INET}), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Eval(program, __NR_ioctl, {0, 0x5412}), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Eval(program, __NR_getpid), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Eval(program, __NR_clone3), kEnosys);
}

TEST(SeccompCompilerTest, AllowDenyAndDangerAllow) {
  SeccompPolicy policy;
  policy.add_groups("base");
  policy.add_allow("openat");
  policy.add_deny("getpid");
  policy.add_danger_allow("ptrace");
  SeccompProgram program = CompileOrDie(policy);
  EXPECT_EQ(Eval(program, __NR_openat), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Eval(program, __NR_getpid), kEperm);
  EXPECT_EQ(Eval(program, __NR_ptrace), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Eval(program, __NR_mkdir), kEperm);  // file-write not selected
  EXPECT_THAT(program.allowed_syscalls, ::testing::Contains("ptrace"));
  EXPECT_THAT(program.allowed_syscalls, ::testing::Not(::testing::Contains("getpid")));
}

TEST(SeccompCompilerTest, EverythingAtOnceStaysWithinTheKernelCap) {
  SeccompPolicy policy;
  for (const std::string& g : SyscallGroups::Names()) policy.add_groups(g);
  for (std::string_view n : SyscallGroups::NeverAllowed()) policy.add_danger_allow(std::string(n));
  SeccompProgram program = CompileOrDie(policy);
  EXPECT_LT(program.instructions.size(), static_cast<size_t>(BPF_MAXINSNS));
  // danger_allow does not lift argument rules.
  EXPECT_EQ(Eval(program, __NR_socket, {AF_INET}), kEperm);
  EXPECT_EQ(Eval(program, __NR_ptrace), SECCOMP_RET_ALLOW);
}

TEST(SeccompCompilerTest, RefusesBadPolicies) {
  SeccompPolicy never;
  never.add_groups("base");
  never.add_allow("mount");
  EXPECT_FALSE(SeccompCompiler::Compile(never, {}).ok());
  SeccompPolicy unknown;
  unknown.add_groups("networking");
  EXPECT_FALSE(SeccompCompiler::Compile(unknown, {}).ok());
}

// The own generator must answer exactly as libseccomp does for every syscall number and for
// argument values around every rule's boundaries, in every violation mode.
TEST(SeccompCompilerTest, OwnGeneratorAnswersExactlyAsLibseccomp) {
  std::vector<SeccompPolicy> policies;
  policies.push_back(DefaultLikePolicy());
  SeccompPolicy minimal;
  for (const char* g : {"base", "channel", "file-read"}) minimal.add_groups(g);
  policies.push_back(minimal);
  SeccompPolicy everything;
  for (const std::string& g : SyscallGroups::Names()) everything.add_groups(g);
  for (std::string_view n : SyscallGroups::NeverAllowed())
    everything.add_danger_allow(std::string(n));
  policies.push_back(everything);
  SeccompPolicy killing = DefaultLikePolicy();
  killing.set_on_violation(SeccompPolicy::KILL);
  policies.push_back(killing);

  std::vector<uint64_t> arg_values = {0,           1,
                                      AF_INET,     AF_UNIX,
                                      AF_NETLINK,  0xffffffff,
                                      0x100000000, 0x100000001,
                                      ~0ull,       0x7fffffff,
                                      0x80000000,  CLONE_NEWUSER,
                                      SIGCHLD,     CLONE_VM | CLONE_FS | SIGCHLD,
                                      0x5412,      SIGXCPU,
                                      SIGXFSZ,     CLONE_VM | CLONE_VFORK | SIGXFSZ,
                                      0xff,        CLONE_THREAD | 0x11};
  for (uint32_t option : SeccompCompiler::SafePrctlOptions()) {
    arg_values.push_back(option);
    arg_values.push_back(option + 1);
    arg_values.push_back(option | 0xdead00000000ull);
  }
  for (int bit = 0; bit < 32; ++bit) arg_values.push_back(1ull << bit);

  int compared = 0;
  for (const SeccompPolicy& policy : policies) {
    for (bool notify : {false, true}) {
      SeccompCompileOptions own{notify};
      own.use_libseccomp = false;
      SeccompCompileOptions reference{notify};
      reference.use_libseccomp = true;
      auto a = SeccompCompiler::Compile(policy, own);
      auto b = SeccompCompiler::Compile(policy, reference);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_EQ(a->allowed_syscalls, b->allowed_syscalls);
      std::vector<long> numbers;
      for (long nr = 0; nr < 1100; ++nr) numbers.push_back(nr);
      for (long nr : {0x3fffffffL, 0x40000000L, 0x40000001L, 0x7fffffffL, -1L, -2L}) {
        numbers.push_back(nr);
      }
      for (long nr : numbers) {
        for (uint64_t arg0 : arg_values) {
          for (uint64_t arg1 : {uint64_t{0}, uint64_t{0x5412}, uint64_t{SIGXCPU}, uint64_t{9}}) {
            for (uint32_t arch : {uint32_t{AUDIT_ARCH_X86_64}, uint32_t{AUDIT_ARCH_I386}}) {
              ASSERT_EQ(Eval(*a, nr, {arg0, arg1, arg1}, arch),
                        Eval(*b, nr, {arg0, arg1, arg1}, arch))
                  << "nr " << nr << " arg0 " << arg0 << " arg1 " << arg1 << " arch " << arch
                  << " notify " << notify << " policy " << policy.ShortDebugString();
              ++compared;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 1000000);
}

// Runs `body` in a forked child under `program`; returns the child's wait status.
template <typename Body>
int RunFiltered(const SeccompProgram& program, Body body) {
  pid_t pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
    sock_fprog prog{static_cast<unsigned short>(program.instructions.size()),
                    const_cast<sock_filter*>(program.instructions.data())};
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(101);
    _exit(body());
  }
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

TEST(SeccompCompilerTest, LoadedFilterBehavesInTheKernel) {
  SeccompProgram program = CompileOrDie(DefaultLikePolicy());
  int status = RunFiltered(program, [] {
    int failures = 0;
    errno = 0;
    if (socket(AF_INET, SOCK_STREAM, 0) != -1 || errno != EPERM) failures |= 1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) failures |= 2;
    if (syscall(__NR_getpid) <= 0) failures |= 4;
    errno = 0;
    char c = 'x';
    if (ioctl(0, 0xdeadbeef00005412ul, &c) != -1 || errno != EPERM) failures |= 8;
    errno = 0;
    if (syscall(__NR_clone3, nullptr, 0) != -1 || errno != ENOSYS) failures |= 16;
    errno = 0;
    if (unshare(CLONE_NEWUSER) != -1 || errno != EPERM) failures |= 32;
    errno = 0;
    if (syscall(__NR_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) != -1 || errno != EPERM) {
      failures |= 64;
    }
    return failures;
  });
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "failed checks bitmask";
}

TEST(SeccompCompilerTest, LoadedFilterKillsX32AndKillPolicyViolations) {
  SeccompProgram program = CompileOrDie(DefaultLikePolicy());
  int status = RunFiltered(program, [] {
    syscall(0x40000000 | __NR_getpid);
    return 0;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "x32 getpid was not killed";
  EXPECT_EQ(WTERMSIG(status), SIGSYS);

  SeccompPolicy kill = DefaultLikePolicy();
  kill.set_on_violation(SeccompPolicy::KILL);
  status = RunFiltered(CompileOrDie(kill), [] {
    syscall(__NR_ptrace, PTRACE_TRACEME, 0, 0, 0);
    return 0;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "ptrace under KILL was not killed";
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(SeccompCompilerTest, LoadedFilterDeniesSyscallMinusOneWithoutAKill) {
  int status = RunFiltered(CompileOrDie(DefaultLikePolicy()), [] {
    long rc = syscall(-1L);
    return rc == -1 && errno == EPERM ? 0 : 1;
  });
  ASSERT_TRUE(WIFEXITED(status)) << "syscall(-1) was killed as x32, signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "syscall(-1) was not answered EPERM";
}

}  // namespace
}  // namespace cordon::profiles
