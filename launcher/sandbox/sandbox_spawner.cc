#include "launcher/sandbox/sandbox_spawner.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "launcher/sandbox/child_plan.h"
#include "launcher/sandbox/sandbox_child.h"
#include "launcher/sandbox/setup_step.h"

namespace cordon::sandbox {
namespace {

constexpr int kMaxPassFds = 32;
// Where a #! program is bound inside the sandbox.
constexpr char kScriptDir[] = "/.cordon-exec";
// The child's setup is our own code and takes milliseconds; this only guards against a
// kernel or filesystem that hangs (e.g. a dead NFS bind source).
constexpr int kSetupTimeoutMs = 30000;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int* out() { return &fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
  absl::Status Open(const char* what) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("pipe2 (", what, ")"));
    *read.out() = fds[0];
    *write.out() = fds[1];
    return absl::OkStatus();
  }
};

absl::Status WriteFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  ssize_t n = write(fd, content.data(), content.size());
  int saved = errno;
  close(fd);
  if (n != static_cast<ssize_t>(content.size())) {
    return absl::ErrnoToStatus(saved, absl::StrCat("write '", content, "' to ", path));
  }
  return absl::OkStatus();
}

absl::Status WriteIdMaps(pid_t pid, const SandboxSpec& spec, bool rootless) {
  std::string proc = absl::StrCat("/proc/", pid);
  uid_t host_uid = rootless ? geteuid() : spec.host_uid;
  gid_t host_gid = rootless ? getegid() : spec.host_gid;
  if (rootless) {
    // An unprivileged writer must give up setgroups before it may write gid_map.
    if (absl::Status s = WriteFile(proc + "/setgroups", "deny"); !s.ok()) return s;
  }
  if (absl::Status s = WriteFile(proc + "/uid_map",
                                 absl::StrFormat("%d %d 1\n", spec.sandbox_uid, host_uid));
      !s.ok()) {
    return s;
  }
  return WriteFile(proc + "/gid_map", absl::StrFormat("%d %d 1\n", spec.sandbox_gid, host_gid));
}

// Reads the first two bytes through the already opened O_PATH fd (reopened for reading via
// /proc/self/fd), so the file checked is the file executed and bound.
absl::StatusOr<bool> IsScript(int exec_fd) {
  // O_NONBLOCK: a FIFO or a device given as the program must not block the launcher here.
  int fd = open(absl::StrCat("/proc/self/fd/", exec_fd).c_str(),
                O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  // Unreadable (execute-only): not a script; exec reports the rest.
  if (fd < 0) return false;
  char magic[2] = {0, 0};
  ssize_t n = read(fd, magic, sizeof(magic));
  close(fd);
  return n == 2 && magic[0] == '#' && magic[1] == '!';
}

std::string DescribeFailure(const ChildPlan& plan, const SetupFailure& failure) {
  std::string detail;
  switch (failure.step) {
    case SetupStep::kCreateMountPoint:
    case SetupStep::kBindMount:
    case SetupStep::kRemountReadOnly:
    case SetupStep::kMountTmpfs:
      if (failure.detail >= 0 && failure.detail < static_cast<int>(plan.mounts().size())) {
        detail = absl::StrCat(" (", plan.DescribeMount(failure.detail), ")");
      }
      break;
    case SetupStep::kSetRlimit:
      if (failure.detail >= 0 && failure.detail < static_cast<int>(plan.rlimits().size())) {
        detail = absl::StrCat(" (resource ", plan.rlimits()[failure.detail].resource, " = ",
                              plan.rlimits()[failure.detail].soft, ")");
      }
      break;
    default:
      break;
  }
  return absl::StrCat("sandbox setup failed at step '", SetupStepName(failure.step), "'",
                      detail, ": ", strerror(failure.error_number), " (errno ",
                      failure.error_number, "). What to do: ",
                      SetupStepAdvice(failure.step, failure.error_number));
}

pid_t Clone(uint64_t flags, int cgroup_fd, int* pidfd) {
  struct clone_args args {};
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
  }
  // No stack: the child continues on a copy of ours, like fork(), without glibc's atfork
  // handlers (which could deadlock on locks another launcher thread held at clone time).
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof(args)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SandboxProcess>> SandboxSpawner::Spawn(const SandboxSpec& spec,
                                                                      const SpawnHooks& hooks) {
  const bool rootless = geteuid() != 0;
  if (spec.cgroup_v1_task_fds.size() > 16) {
    return absl::InvalidArgumentError("at most 16 cgroup v1 hierarchies can be joined");
  }
  if (static_cast<int>(spec.pass_fds.size()) > kMaxPassFds) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxPassFds, " fds can be passed into a sandbox"));
  }
  // Opened once: the checks below, the script test, the script's bind and the final
  // execveat all use this one file, whatever happens to the path meanwhile.
  Fd exec_fd(open(spec.program.c_str(), O_PATH | O_CLOEXEC));
  if (exec_fd.get() < 0) {
    return absl::NotFoundError(absl::StrCat("cannot open program '", spec.program,
                                            "': ", strerror(errno),
                                            "; give the host path of an executable"));
  }
  struct stat st;
  if (fstat(exec_fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("program '", spec.program,
                     "' is not an executable regular file; chmod +x it or give "
                     "another path"));
  }
  absl::StatusOr<bool> is_script = IsScript(exec_fd.get());
  if (!is_script.ok()) return is_script.status();
  // A script is bound read-only into the sandbox and executed by path: executing it through
  // our fd would hand the interpreter /dev/fd/N, a writable way back to the host file.
  SandboxSpec adjusted;
  const SandboxSpec* effective = &spec;
  std::string script_path;
  if (*is_script) {
    adjusted = spec;
    std::string name = spec.program.substr(spec.program.rfind('/') + 1);
    script_path = absl::StrCat(kScriptDir, "/", name.empty() ? "program" : name);
    MountSpec bind{MountSpec::Kind::kBindReadOnly, spec.program, script_path, false, 0};
    bind.source_is_program = true;
    adjusted.mounts.push_back(bind);
    effective = &adjusted;
  }
  absl::StatusOr<std::unique_ptr<ChildPlan>> plan =
      ChildPlan::Build(*effective, rootless, script_path);
  if (!plan.ok()) return plan.status();

  Pipe go, status, lifeline;
  for (auto [pipe, what] : {std::pair{&go, "go"}, {&status, "status"}, {&lifeline, "lifeline"}}) {
    if (absl::Status s = pipe->Open(what); !s.ok()) return s;
  }
  // Reports come as datagrams, and one of them carries an fd, hence a socket, not a pipe.
  Pipe error;
  {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      return absl::ErrnoToStatus(errno, "socketpair (setup reports)");
    }
    *error.read.out() = fds[0];
    *error.write.out() = fds[1];
  }

  ChildFds child_fds;
  child_fds.go_read = go.read.get();
  child_fds.error_write = error.write.get();
  child_fds.status_write = status.write.get();
  child_fds.lifeline_read = lifeline.read.get();
  child_fds.exec_fd = exec_fd.get();
  child_fds.pass_fds = spec.pass_fds.data();
  child_fds.pass_fd_count = static_cast<int>(spec.pass_fds.size());
  child_fds.cgroup_task_fds = spec.cgroup_v1_task_fds.data();
  child_fds.cgroup_task_fd_count = static_cast<int>(spec.cgroup_v1_task_fds.size());
  for (int i = 0; i < 3; ++i) child_fds.stdio[i] = spec.stdio[i];

  const uint64_t kNamespaces =
      CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
  int raw_pidfd = -1;
  absl::Time started = absl::Now();
  pid_t pid = Clone(kNamespaces, spec.cgroup_fd, &raw_pidfd);
  if (pid < 0) {
    int saved = errno;
    std::string advice =
        saved == EPERM || saved == ENOSPC
            ? "; user namespaces may be disabled or exhausted: check "
              "/proc/sys/user/max_user_namespaces (and kernel.unprivileged_userns_clone or an "
              "AppArmor userns restriction when rootless)"
            : "";
    return absl::ErrnoToStatus(saved, absl::StrCat("clone3 into new namespaces", advice));
  }
  if (pid == 0) {
    SandboxChild::RunInit(**plan, child_fds);  // never returns
  }
  Fd pidfd(raw_pidfd);
  go.read.Reset();
  error.write.Reset();
  status.write.Reset();
  lifeline.read.Reset();
  exec_fd.Reset();

  bool child_reaped = false;
  auto kill_child = absl::MakeCleanup([&] {
    if (child_reaped) return;
    syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
    int ignored;
    while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
  });

  if (absl::Status s = WriteIdMaps(pid, spec, rootless); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox setup failed writing uid/gid maps: ", s.message(),
                     ". What to do: run as root, or rootless with user namespaces enabled"));
  }
  if (hooks.before_start) {
    if (absl::Status s = hooks.before_start(pid); !s.ok()) return s;
  }
  char byte = 'g';
  if (write(go.write.get(), &byte, 1) != 1) {
    return absl::ErrnoToStatus(errno, "sandbox setup: signalling the child failed");
  }

  Fd listener;
  Fd program_pidfd;
  Fd tmp_dir;
  // Unless the program waits for us to take its listener, nothing sent here needs an answer:
  // sleep until the child side is closed (exec or exit; POLLHUP is always reported), then
  // read whatever came, so a start-up costs the launcher one wake-up here instead of two.
  const bool answer_reports = (*plan)->listener_via_pidfd();
  const bool plan_wants_tmp = (*plan)->report_tmp_dir();
  const short poll_events = answer_reports ? POLLIN : 0;
  for (;;) {
    struct pollfd poll_fd {
      error.read.get(), poll_events, 0
    };
    int ready = poll(&poll_fd, 1, kSetupTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "sandbox setup did not finish within ", kSetupTimeoutMs / 1000,
          " s; a bind source may sit on a hung filesystem"));
    }
    SetupFailure report{};
    struct iovec iov {&report, sizeof(report)};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr message {};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(error.read.get(), &message, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) break;  // EOF: the program has been exec'd
    Fd received;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
         c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
          c->cmsg_len == CMSG_LEN(sizeof(int))) {
        memcpy(received.out(), CMSG_DATA(c), sizeof(int));
      }
    }
    if (n != sizeof(report) || (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
      return absl::InternalError("sandbox setup: malformed report from the child");
    }
    if (report.step == kTmpDirMarker && report.error_number == 0 && received.get() >= 0 &&
        plan_wants_tmp && tmp_dir.get() < 0) {
      *tmp_dir.out() = received.Release();
      continue;
    }
    if (report.step == kProgramPidfdMarker && report.error_number == 0 &&
        received.get() >= 0 && program_pidfd.get() < 0) {
      *program_pidfd.out() = received.Release();
      continue;
    }
    if (report.step == kListenerReadyMarker && report.error_number == 0 &&
        (*plan)->listener_via_sendmsg() && received.get() >= 0 && listener.get() < 0) {
      // The program process sent its listener itself and is exec'ing already.
      *listener.out() = received.Release();
      continue;
    }
    if (report.step == kListenerReadyMarker && report.error_number == 0 &&
        program_pidfd.get() >= 0 && listener.get() < 0) {
      *listener.out() =
          static_cast<int>(syscall(SYS_pidfd_getfd, program_pidfd.get(), report.detail, 0));
      if (listener.get() < 0) {
        return absl::ErrnoToStatus(errno, "sandbox setup: taking the seccomp listener");
      }
      if (write(go.write.get(), &byte, 1) != 1) {
        return absl::ErrnoToStatus(errno, "sandbox setup: releasing the child");
      }
      continue;
    }
    return absl::FailedPreconditionError(DescribeFailure(**plan, report));
  }

  if ((*plan)->has_seccomp() && (*plan)->seccomp_user_notify() && listener.get() < 0) {
    return absl::InternalError(
        "sandbox setup: the program started without handing over its "
        "seccomp listener");
  }
  std::move(kill_child).Cancel();
  return std::make_unique<SandboxProcess>(pid, pidfd.Release(), status.read.Release(),
                                          lifeline.write.Release(), listener.Release(), started,
                                          tmp_dir.Release());
}

}  // namespace cordon::sandbox
