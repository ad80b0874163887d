// Runs real programs under the shipped profiles' compiled seccomp filters (without the rest of
// the sandbox) and proves they need nothing outside the allowlist: the filter is compiled in
// user_notify mode, and this test plays the launcher, recording every syscall that reaches the
// listener and answering it EPERM.
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox-profiles/profile_loader.h"
#include "sandbox-profiles/seccomp_compiler.h"
#include "sandbox-profiles/syscall_groups.h"

namespace cordon::profiles {
namespace {

using ::testing::HasSubstr;

struct Outcome {
  int wait_status = -1;
  std::vector<int> violations;  // syscall numbers that reached the listener
  std::string output;           // stdout + stderr
};

std::string Describe(const Outcome& o) {
  std::string s = "output:\n" + o.output + "\nviolations:";
  for (int nr : o.violations) s += " " + SyscallGroups::NameForNumber(AUDIT_ARCH_X86_64, nr);
  return s;
}

SeccompProgram CompileProfile(const char* name) {
  auto profile = ProfileLoader::Load(name);
  EXPECT_TRUE(profile.ok()) << profile.status();
  auto program = SeccompCompiler::Compile(profile->seccomp(), SeccompCompileOptions{true});
  EXPECT_TRUE(program.ok()) << program.status();
  return program.ok() ? *program : SeccompProgram{};
}

int ReceiveFd(int sock) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) return -1;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg == nullptr || cmsg->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  std::memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
  return fd;
}

// Child side, after fork: only async-signal-safe calls, everything prepared by the parent.
[[noreturn]] void ChildExec(const SeccompProgram& program, int sock, int out, char* const argv[],
                            char* const envp[]) {
  if (dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(120);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(121);
  sock_fprog prog{static_cast<unsigned short>(program.instructions.size()),
                  const_cast<sock_filter*>(program.instructions.data())};
  int listener = static_cast<int>(
      syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
  if (listener < 0) _exit(122);
  char byte = 'L';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &listener, sizeof(int));
  if (sendmsg(sock, &msg, 0) != 1) _exit(123);
  close(listener);
  close(sock);
  execve(argv[0], argv, envp);
  _exit(127);
}

Outcome RunUnder(const SeccompProgram& program, std::vector<std::string> args) {
  Outcome outcome;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string env_path = "PATH=/usr/local/bin:/usr/bin:/bin", env_home = "HOME=/tmp",
              env_lang = "LANG=C.UTF-8";
  char* envp[] = {env_path.data(), env_home.data(), env_lang.data(), nullptr};
  int sv[2];
  int pipefd[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
      pipe2(pipefd, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "socketpair/pipe: " << strerror(errno);
    return outcome;
  }
  pid_t pid = fork();
  if (pid == 0) ChildExec(program, sv[1], pipefd[1], argv.data(), envp);
  close(sv[1]);
  close(pipefd[1]);
  int listener = ReceiveFd(sv[0]);
  close(sv[0]);
  EXPECT_GE(listener, 0) << "child did not send its seccomp listener";
  pollfd fds[2] = {{listener, POLLIN, 0}, {pipefd[0], POLLIN, 0}};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    // The timeout is a safety net against a hung program, not synchronisation.
    int n = poll(fds, 2, 60000);
    if (n == 0) {
      ADD_FAILURE() << "program still running after 60 s; killing it";
      kill(pid, SIGKILL);
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ADD_FAILURE() << "poll: " << strerror(errno);
      kill(pid, SIGKILL);
      break;
    }
    if (fds[0].fd >= 0 && (fds[0].revents & POLLIN)) {
      seccomp_notif req;
      std::memset(&req, 0, sizeof(req));
      if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) == 0) {
        outcome.violations.push_back(req.data.nr);
        seccomp_notif_resp resp;
        std::memset(&resp, 0, sizeof(resp));
        resp.id = req.id;
        resp.error = -EPERM;
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);  // ENOENT if the task died: fine
      }
    } else if (fds[0].fd >= 0 && (fds[0].revents & (POLLHUP | POLLERR))) {
      close(listener);
      fds[0].fd = -1;
    }
    if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
      char buf[4096];
      ssize_t r = read(pipefd[0], buf, sizeof(buf));
      if (r > 0 && outcome.output.size() < (1 << 20)) {
        outcome.output.append(buf, static_cast<size_t>(r));
      } else if (r <= 0) {
        close(pipefd[0]);
        fds[1].fd = -1;
      }
    }
  }
  if (fds[0].fd >= 0) close(fds[0].fd);
  if (fds[1].fd >= 0) close(fds[1].fd);
  EXPECT_EQ(waitpid(pid, &outcome.wait_status, 0), pid);
  return outcome;
}

void ExpectClean(const Outcome& o) {
  EXPECT_TRUE(WIFEXITED(o.wait_status) && WEXITSTATUS(o.wait_status) == 0)
      << "wait status " << o.wait_status << "\n"
      << Describe(o);
  EXPECT_TRUE(o.violations.empty()) << Describe(o);
}

class DefaultProfilePrograms : public ::testing::Test {
 protected:
  SeccompProgram program_ = CompileProfile("default");
};

TEST_F(DefaultProfilePrograms, ShellBuiltinsSubshellsAndPipes) {
  Outcome o = RunUnder(program_, {"/bin/sh", "-c",
                                  "echo hello; x=$(echo sub); test \"$x\" = sub && "
                                  "echo a b | (read p q; echo \"$q\") && exit 0"});
  ExpectClean(o);
  EXPECT_THAT(o.output, HasSubstr("hello\nb\n"));
}

TEST_F(DefaultProfilePrograms, Coreutils) {
  Outcome o = RunUnder(
      program_,
      {"/bin/sh", "-c",
       "set -e; ls -la / | head -n 3 >/dev/null; ls --color=always /usr >/dev/null; "
       "cat /etc/passwd | cut -d: -f1 | tr a-z A-Z | grep -c ROOT; id; id -un; hostname; "
       "tail -n 1 /etc/group >/dev/null; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; "
       "ls /proc | grep -E '^[0-9]+$' | head -n 1 >/dev/null; "
       "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' >/dev/null; "
       "echo data > /tmp/cordon-profiles-$$ && cat /tmp/cordon-profiles-$$ && "
       "rm /tmp/cordon-profiles-$$"});
  ExpectClean(o);
  EXPECT_THAT(o.output, HasSubstr("NoNewPrivs:\t1"));
  EXPECT_THAT(o.output, HasSubstr("Seccomp:\t2"));
  EXPECT_THAT(o.output, HasSubstr("data\n"));
}

TEST_F(DefaultProfilePrograms, Python) {
  Outcome o =
      RunUnder(program_, {"/usr/bin/python3", "-c",
                          "import json, os, sys, tempfile, hashlib\n"
                          "with tempfile.TemporaryFile() as f:\n"
                          "  f.write(b'x' * 1000)\n"
                          "print(json.dumps({'ok': hashlib.sha256(b'').hexdigest()[:8]}))"});
  ExpectClean(o);
  EXPECT_THAT(o.output, HasSubstr("{\"ok\": \"e3b0c442\"}"));
}

TEST_F(DefaultProfilePrograms, DynamicallyLinkedC) {
  Outcome o = RunUnder(program_, {CORDON_DYNAMIC_PROBE});
  ExpectClean(o);
  EXPECT_THAT(o.output, HasSubstr("dynamic probe ok"));
}

// The harness itself must see violations, or the tests above would prove nothing.
TEST_F(DefaultProfilePrograms, ViolationsAreSeenAndAnsweredEperm) {
  Outcome o = RunUnder(program_, {"/usr/bin/python3", "-c",
                                  "import socket\n"
                                  "try:\n"
                                  "  socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
                                  "except PermissionError:\n"
                                  "  print('refused')\n"});
  EXPECT_THAT(o.violations, ::testing::Contains(__NR_socket)) << Describe(o);
  EXPECT_THAT(o.output, HasSubstr("refused"));
}

// x32 calls are notified (so the launcher can record them) rather than silently killed.
TEST_F(DefaultProfilePrograms, X32CallsReachTheListener) {
  Outcome o = RunUnder(program_, {"/usr/bin/python3", "-c",
                                  "import ctypes\n"
                                  "r = ctypes.CDLL(None).syscall(0x40000000 | 39)\n"
                                  "print('x32', r, ctypes.get_errno())\n"});
  EXPECT_THAT(o.violations, ::testing::Contains(0x40000000 | __NR_getpid)) << Describe(o);
  EXPECT_THAT(o.output, HasSubstr("x32 -1")) << Describe(o);
}

TEST(MinimalProfilePrograms, StaticProgramRunsAndCannotFork) {
  SeccompProgram program = CompileProfile("minimal");
  Outcome o = RunUnder(program, {CORDON_STATIC_PROBE});
  EXPECT_TRUE(WIFEXITED(o.wait_status) && WEXITSTATUS(o.wait_status) == 0) << Describe(o);
  EXPECT_THAT(o.output, HasSubstr("static probe ok, fork refused"));
  // fork() is clone(SIGCHLD) without the process group: exactly one violation.
  EXPECT_THAT(o.violations, ::testing::ElementsAre(__NR_clone)) << Describe(o);
}

}  // namespace
}  // namespace cordon::profiles
