#include "launcher/sandbox/sandbox_child.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "launcher/sandbox/init_filter.h"
#include "launcher/sandbox/landlock_rules.h"
#include "launcher/sandbox/setup_step.h"

namespace cordon::sandbox {
namespace {

// Fixed fd layout the init arranges before anything else, so leaked host fds are closed
// early and the program process knows where everything is.
struct FdLayout {
  int pass_base = 3;  // pass fds occupy [3, 3 + count)
  int exec = -1;
  int error = -1;  // SOCK_SEQPACKET: reports, and the program's pidfd as SCM_RIGHTS
  int status = -1;
  int lifeline = -1;
  int go = -1;
  int first_free = -1;
};

void WriteAll(int fd, const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes += n;
    size -= static_cast<size_t>(n);
  }
}

[[noreturn]] void Fail(int error_fd, SetupStep step, int error_number, int detail = -1) {
  SetupFailure failure{step, error_number, detail};
  WriteAll(error_fd, &failure, sizeof(failure));
  _exit(125);
}

// Reads exactly one byte; false on EOF/error (the launcher is gone or refused).
bool ReadByte(int fd) {
  char byte;
  for (;;) {
    ssize_t n = read(fd, &byte, 1);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// Sends one report with `fd` attached (SCM_RIGHTS); false with errno set on failure.
bool SendWithFd(int socket_fd, const SetupFailure& report, int fd) {
  struct iovec iov {
    const_cast<SetupFailure*>(&report), sizeof(report)
  };
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr message {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&message);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  for (;;) {
    ssize_t n = sendmsg(socket_fd, &message, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof(report))) return true;
    if (n < 0 && errno == EINTR) continue;
    if (n >= 0) errno = EMSGSIZE;
    return false;
  }
}

// Copies path into buf (PATH_MAX) and creates every missing directory of it, like mkdir -p.
int MakeDirectories(const char* path, bool include_last) {
  char buf[PATH_MAX];
  size_t length = strnlen(path, sizeof(buf));
  if (length >= sizeof(buf)) return ENAMETOOLONG;
  memcpy(buf, path, length + 1);
  for (size_t i = 1; i <= length; ++i) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    if (buf[i] == '\0' && !include_last) break;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return errno;
    buf[i] = saved;
  }
  return 0;
}

// Creates the mount point for a bind whose source is `tree` (an open_tree fd): a directory
// for a directory, an empty file otherwise. Returns 0 or an errno.
int CreateMountPoint(int tree, const char* destination) {
  struct stat st;
  if (fstat(tree, &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return MakeDirectories(destination, true);
  if (int err = MakeDirectories(destination, false); err != 0) return err;
  int fd = open(destination, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 && errno != EEXIST) return errno;
  if (fd >= 0) close(fd);
  return 0;
}

// Sets mount attributes on a whole subtree. mount_setattr (5.12+) is used because a
// remount only changes the top mount of a recursive bind and leaves submounts writable.
int SetMountAttributes(const char* path, uint64_t set, uint64_t clear, bool recursive) {
  struct mount_attr attr {};
  attr.attr_set = set;
  attr.attr_clr = clear;
  unsigned int flags = recursive ? AT_RECURSIVE : 0;
  if (syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof(attr)) != 0) return errno;
  return 0;
}

// Attaches a detached tree (from open_tree) at destination.
int MoveMount(int tree, const char* destination) {
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, destination, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return errno;
  }
  return 0;
}

void ArrangeFds(const ChildFds& fds, FdLayout* layout) {
  // Move every fd we keep above all of them first, then down into place, so no fd is
  // overwritten while another still needs its number.
  int highest = 2 + fds.pass_fd_count + 6;
  for (int i = 0; i < fds.pass_fd_count; ++i)
    highest = fds.pass_fds[i] > highest ? fds.pass_fds[i] : highest;
  const int sources[] = {fds.exec_fd, fds.error_write, fds.status_write, fds.lifeline_read,
                         fds.go_read};
  for (int fd : sources) highest = fd > highest ? fd : highest;
  for (int fd : fds.stdio) highest = fd > highest ? fd : highest;
  int temp_base = highest + 1;

  int temps[64];
  int count = 0;
  for (int i = 0; i < fds.pass_fd_count && count < 58; ++i) {
    temps[count++] = fcntl(fds.pass_fds[i], F_DUPFD_CLOEXEC, temp_base);
  }
  for (int fd : sources) temps[count++] = fcntl(fd, F_DUPFD_CLOEXEC, temp_base);
  int stdio_temps[3] = {-1, -1, -1};
  for (int i = 0; i < 3; ++i) {
    if (fds.stdio[i] >= 0) stdio_temps[i] = fcntl(fds.stdio[i], F_DUPFD_CLOEXEC, temp_base);
    if (fds.stdio[i] >= 0 && stdio_temps[i] < 0) {
      Fail(fds.error_write, SetupStep::kSetupFds, errno, i);
    }
  }
  for (int i = 0; i < count; ++i) {
    if (temps[i] < 0) Fail(fds.error_write, SetupStep::kSetupFds, errno, i);
  }
  // Replacement stdio (pipes the launcher relays) goes onto 0, 1, 2, without CLOEXEC. Every
  // other kept fd already has a copy above temp_base, so nothing needed is overwritten.
  for (int i = 0; i < 3; ++i) {
    if (stdio_temps[i] >= 0 && dup3(stdio_temps[i], i, 0) < 0) {
      Fail(temps[fds.pass_fd_count + 1], SetupStep::kSetupFds, errno, i);
    }
  }

  int target = 3;
  for (int i = 0; i < fds.pass_fd_count; ++i, ++target) {
    // No O_CLOEXEC: these are meant to reach the program.
    if (dup3(temps[i], target, 0) < 0) Fail(fds.error_write, SetupStep::kSetupFds, errno, i);
  }
  int* slots[] = {&layout->exec, &layout->error, &layout->status, &layout->lifeline, &layout->go};
  for (int j = 0; j < 5; ++j, ++target) {
    if (dup3(temps[fds.pass_fd_count + j], target, O_CLOEXEC) < 0) {
      Fail(fds.error_write, SetupStep::kSetupFds, errno, -1);
    }
    *slots[j] = target;
  }
  layout->first_free = target;
  // Everything else, including fds the launcher's caller leaked without CLOEXEC, goes now.
  if (syscall(SYS_close_range, layout->first_free, ~0U, 0) != 0) {
    Fail(layout->error, SetupStep::kSetupFds, errno, -1);
  }
}

constexpr int kDeviceCount = 5;
const char* const kDevices[kDeviceCount] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                            "/dev/urandom"};

void BuildMountTree(const ChildPlan& plan, int error_fd, int exec_fd) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    Fail(error_fd, SetupStep::kMakeRootPrivate, errno);
  }
  // Every bind source is cloned into a detached tree first, while path lookups still run
  // with the launcher's file-system credentials (so a root launcher can bind a 0700 host
  // directory). Everything created afterwards (mount points, /dev entries) is created with
  // the sandbox's uid, which is the only uid mapped in the new user namespace.
  const auto& mounts = plan.mounts();
  int trees[kMaxPlannedMounts + kDeviceCount];
  for (int i = 0; i < static_cast<int>(mounts.size()); ++i) {
    trees[i] = -1;
    if (mounts[i].kind == MountSpec::Kind::kTmpfs) continue;
    trees[i] = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, mounts[i].source,
                                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (trees[i] >= 0 && mounts[i].source_is_program) {
      // The program (a script) must be the very file the launcher checked and will exec: a
      // path swapped since then would bring another host file in with the launcher's
      // credentials. (The checked fd itself cannot be cloned here: its mount belongs to the
      // launcher's mount namespace, and open_tree refuses that with EINVAL.)
      struct stat bound, checked;
      if (fstat(trees[i], &bound) != 0 || fstat(exec_fd, &checked) != 0 ||
          bound.st_dev != checked.st_dev || bound.st_ino != checked.st_ino) {
        Fail(error_fd, SetupStep::kBindMount, ESTALE, i);
      }
    }
    if (trees[i] < 0 && !(errno == ENOENT && mounts[i].optional)) {
      Fail(error_fd, SetupStep::kBindMount, errno, i);
    }
  }
  int* device_trees = trees + mounts.size();
  for (int i = 0; i < kDeviceCount; ++i) {
    device_trees[i] = static_cast<int>(
        syscall(SYS_open_tree, AT_FDCWD, kDevices[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (device_trees[i] < 0) Fail(error_fd, SetupStep::kBindDevice, errno, i);
  }
  if (syscall(SYS_setfsuid, plan.sandbox_uid()) < 0 ||
      syscall(SYS_setfsgid, plan.sandbox_gid()) < 0) {
    Fail(error_fd, SetupStep::kSetUid, errno);
  }

  // The new root is a tmpfs mounted over /tmp; after pivot_root the host's / sits at
  // kOldRootDir until it is detached below.
  if (mount("cordon-root", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0) {
    Fail(error_fd, SetupStep::kMountStagingTmpfs, errno);
  }
  if (mkdir("/tmp/.cordon-oldroot", 0700) != 0) Fail(error_fd, SetupStep::kPivotRoot, errno);
  if (syscall(SYS_pivot_root, "/tmp", "/tmp/.cordon-oldroot") != 0) {
    Fail(error_fd, SetupStep::kPivotRoot, errno);
  }
  if (chdir("/") != 0) Fail(error_fd, SetupStep::kPivotRoot, errno);

  constexpr uint64_t kReadOnly = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  constexpr uint64_t kWritable = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  for (int i = 0; i < static_cast<int>(mounts.size()); ++i) {
    const PlannedMount& m = mounts[i];
    if (m.kind == MountSpec::Kind::kTmpfs) {
      if (int err = MakeDirectories(m.destination, true); err != 0) {
        Fail(error_fd, SetupStep::kCreateMountPoint, err, i);
      }
      if (mount("tmpfs", m.destination, "tmpfs", MS_NOSUID | MS_NODEV, m.tmpfs_data) != 0) {
        Fail(error_fd, SetupStep::kMountTmpfs, errno, i);
      }
      continue;
    }
    if (trees[i] < 0) continue;  // optional and absent
    if (int err = CreateMountPoint(trees[i], m.destination); err != 0) {
      Fail(error_fd, SetupStep::kCreateMountPoint, err, i);
    }
    if (int err = MoveMount(trees[i], m.destination); err != 0) {
      Fail(error_fd, SetupStep::kBindMount, err, i);
    }
    close(trees[i]);
    bool read_only = m.kind == MountSpec::Kind::kBindReadOnly;
    if (int err = SetMountAttributes(m.destination, read_only ? kReadOnly : kWritable,
                                     read_only ? 0 : MOUNT_ATTR_RDONLY, true);
        err != 0) {
      Fail(error_fd, SetupStep::kRemountReadOnly, err, i);
    }
  }

  // A fresh /proc for the new pid namespace. The kernel only allows it while a full /proc
  // is still visible in this mount namespace, so this happens before the old root goes.
  if (mkdir("/proc", 0555) != 0 && errno != EEXIST) Fail(error_fd, SetupStep::kMountProc, errno);
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    Fail(error_fd, SetupStep::kMountProc, errno);
  }
  // Kernel knobs stay read-only even for a future capability bug.
  const char* const kProtected[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus",
                                    "/proc/fs",  "/proc/acpi"};
  for (const char* path : kProtected) {
    if (mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      if (errno == ENOENT) continue;
      Fail(error_fd, SetupStep::kProtectProc, errno);
    }
    if (int err = SetMountAttributes(path, kReadOnly | MOUNT_ATTR_NOEXEC, 0, true); err != 0) {
      Fail(error_fd, SetupStep::kProtectProc, err);
    }
  }

  // A minimal /dev: the five harmless character devices, bound from the host because a
  // user namespace cannot mknod. No tty, no pts: the program gets no terminal.
  if (mkdir("/dev", 0755) != 0 && errno != EEXIST) Fail(error_fd, SetupStep::kMountDev, errno);
  if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") != 0) {
    Fail(error_fd, SetupStep::kMountDev, errno);
  }
  for (int i = 0; i < kDeviceCount; ++i) {
    int fd = open(kDevices[i], O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) Fail(error_fd, SetupStep::kBindDevice, errno, i);
    close(fd);
    if (int err = MoveMount(device_trees[i], kDevices[i]); err != 0) {
      Fail(error_fd, SetupStep::kBindDevice, err, i);
    }
    close(device_trees[i]);
    if (int err = SetMountAttributes(kDevices[i], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0, false);
        err != 0) {
      Fail(error_fd, SetupStep::kBindDevice, err, i);
    }
  }
  const char* const kLinks[][2] = {{"/proc/self/fd", "/dev/fd"},
                                   {"/proc/self/fd/0", "/dev/stdin"},
                                   {"/proc/self/fd/1", "/dev/stdout"},
                                   {"/proc/self/fd/2", "/dev/stderr"}};
  for (const auto& link : kLinks) {
    if (symlink(link[0], link[1]) != 0) Fail(error_fd, SetupStep::kMountDev, errno);
  }
  if (int err = SetMountAttributes("/dev", MOUNT_ATTR_RDONLY, 0, false); err != 0) {
    Fail(error_fd, SetupStep::kMountDev, err);
  }

  if (umount2(kOldRootDir, MNT_DETACH) != 0) Fail(error_fd, SetupStep::kDetachOldRoot, errno);
  if (rmdir(kOldRootDir) != 0) Fail(error_fd, SetupStep::kDetachOldRoot, errno);
  if (int err = SetMountAttributes("/", kReadOnly, 0, false); err != 0) {
    Fail(error_fd, SetupStep::kRemountRootReadOnly, err);
  }
}

void DropPrivileges(const ChildPlan& plan, int error_fd) {
  // Bounding set and securebits need CAP_SETPCAP, which is still held here.
  for (int cap = 0; cap <= plan.last_capability(); ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      Fail(error_fd, SetupStep::kDropBoundingSet, errno, cap);
    }
  }
  const unsigned long kSecurebits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                    SECBIT_NO_CAP_AMBIENT_RAISE |
                                    SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (prctl(PR_SET_SECUREBITS, kSecurebits, 0, 0, 0) != 0) {
    Fail(error_fd, SetupStep::kSetSecurebits, errno);
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    Fail(error_fd, SetupStep::kClearAmbient, errno);
  }
  // Raw syscalls: glibc's wrappers would try to synchronise the launcher's other threads,
  // which do not exist in this process.
  if (!plan.rootless() && syscall(SYS_setgroups, 0, nullptr) != 0) {
    Fail(error_fd, SetupStep::kSetGroups, errno);
  }
  gid_t gid = plan.sandbox_gid();
  if (syscall(SYS_setresgid, gid, gid, gid) != 0) Fail(error_fd, SetupStep::kSetGid, errno);
  uid_t uid = plan.sandbox_uid();
  if (syscall(SYS_setresuid, uid, uid, uid) != 0) Fail(error_fd, SetupStep::kSetUid, errno);
  struct __user_cap_header_struct header {};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capset, &header, data) != 0) Fail(error_fd, SetupStep::kDropCapabilities, errno);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(error_fd, SetupStep::kNoNewPrivs, errno);
}

// The program process: limits, signals, fds, seccomp, exec. Never returns.
[[noreturn]] void RunProgram(const ChildPlan& plan, const ChildFds& fds, const FdLayout& layout) {
  close(layout.status);
  close(layout.lifeline);
  (void)fds;
  const auto& limits = plan.rlimits();
  for (int i = 0; i < static_cast<int>(limits.size()); ++i) {
    struct rlimit value {
      static_cast<rlim_t>(limits[i].soft), static_cast<rlim_t>(limits[i].hard)
    };
    if (setrlimit(limits[i].resource, &value) != 0) {
      Fail(layout.error, SetupStep::kSetRlimit, errno, i);
    }
  }
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &default_action, nullptr);  // EINVAL for the reserved RT signals is fine
  }
  sigset_t empty;
  sigemptyset(&empty);
  if (sigprocmask(SIG_SETMASK, &empty, nullptr) != 0) {
    Fail(layout.error, SetupStep::kResetSignals, errno);
  }
  if (chdir(plan.workdir()) != 0) Fail(layout.error, SetupStep::kChdir, errno);

  // After the fds are final (stdio rules) and before seccomp (which does not allow landlock_*).
  // A script is bound below "/" and executed by path: the host file needs no rule of its own.
  if (int err = ApplyLandlock(plan.landlock_abi(), "/", plan.landlock_writable(),
                              plan.landlock_writable_count(),
                              plan.exec_path() != nullptr ? -1 : layout.exec);
      err != 0) {
    Fail(layout.error, SetupStep::kLandlock, err);
  }
  const bool take_listener = plan.has_seccomp() && plan.seccomp_user_notify();
  if (plan.listener_via_pidfd()) {
    // pidfd_getfd needs ptrace access. The credential switch made this process non-dumpable
    // and its mm still belongs to the initial user namespace (until exec), so a rootless
    // launcher would be refused. Exec makes it dumpable again anyway; until then only our
    // own code runs here. (This process has its own mm on this path: see RunInit.)
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) {
      Fail(layout.error, SetupStep::kSendProgramPidfd, errno);
    }
    // The listener will live in this process, which the launcher has no pidfd for: send it
    // one now, while sendmsg is still unfiltered.
    int self = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
    if (self < 0) Fail(layout.error, SetupStep::kSendProgramPidfd, errno);
    SetupFailure marker{kProgramPidfdMarker, 0, -1};
    if (!SendWithFd(layout.error, marker, self)) {
      Fail(layout.error, SetupStep::kSendProgramPidfd, errno);
    }
    close(self);
  }
  if (plan.has_seccomp()) {
    unsigned int flags = plan.seccomp_user_notify() ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
    long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &plan.seccomp_program());
    if (listener < 0) Fail(layout.error, SetupStep::kLoadSeccomp, errno);
    if (take_listener && plan.listener_via_sendmsg()) {
      // The filter allows sendmsg (ChildPlan asked it), so the listener goes to the launcher
      // directly. It is in flight before exec, and closes here at exec (O_CLOEXEC): the
      // program never holds it. A violation before the launcher dequeued it just waits.
      SetupFailure ready{kListenerReadyMarker, 0, static_cast<int32_t>(listener)};
      if (!SendWithFd(layout.error, ready, static_cast<int>(listener))) {
        Fail(layout.error, SetupStep::kHandOffListener, errno);
      }
    } else if (take_listener) {
      // From here only the syscalls the compiler always allows may run: write, read,
      // execveat, exit_group. The launcher copies the listener with pidfd_getfd while
      // this process waits for its byte; the listener itself closes at exec.
      SetupFailure ready{kListenerReadyMarker, 0, static_cast<int32_t>(listener)};
      WriteAll(layout.error, &ready, sizeof(ready));
      if (!ReadByte(layout.go)) _exit(125);
    }
  }
  if (plan.exec_path() != nullptr) {
    execve(plan.exec_path(), plan.argv(), plan.envp());
  } else {
    syscall(SYS_execveat, layout.exec, "", plan.argv(), plan.envp(), AT_EMPTY_PATH);
  }
  Fail(layout.error, SetupStep::kExec, errno);
}

// The program process's stack while it shares init's memory. Init's own copy of the
// launcher's bss, so concurrent spawns never share it; the launcher never touches it.
alignas(64) char g_program_stack[128 * 1024];

struct ProgramArgs {
  const ChildPlan* plan;
  const ChildFds* fds;
  const FdLayout* layout;
};

int ProgramEntry(void* arg) {
  const ProgramArgs* args = static_cast<const ProgramArgs*>(arg);
  RunProgram(*args->plan, *args->fds, *args->layout);
}

// pid 1: forwards termination signals to the program, reaps every orphan, and reports the
// program's wait status. When it returns, the kernel kills what is left of the namespace.
[[noreturn]] void Supervise(pid_t program, int signal_fd, const FdLayout& layout) {
  bool program_running = true;
  int program_status = 0;
  while (program_running) {
    struct pollfd polls[2] = {{signal_fd, POLLIN, 0}, {layout.lifeline, POLLIN, 0}};
    int ready = poll(polls, 2, -1);
    if (ready < 0 && errno != EINTR) break;
    if (polls[1].revents != 0) {
      // The launcher is gone: nobody supervises this sandbox any more.
      kill(-1, SIGKILL);
      _exit(137);
    }
    struct signalfd_siginfo info;
    if (polls[0].revents & POLLIN) {
      if (read(signal_fd, &info, sizeof(info)) == sizeof(info) && info.ssi_signo != SIGCHLD) {
        kill(program, static_cast<int>(info.ssi_signo));
      }
    }
    for (;;) {
      int status = 0;
      pid_t reaped = waitpid(-1, &status, WNOHANG);
      if (reaped <= 0) break;
      if (reaped == program) {
        program_status = status;
        program_running = false;
      }
    }
  }
  WriteAll(layout.status, &program_status, sizeof(program_status));
  _exit(0);
}

}  // namespace

void SandboxChild::RunInit(const ChildPlan& plan, const ChildFds& fds) {
  // Into the plugin's cgroups before anything else (the fds close with every other extra fd
  // in ArrangeFds). Same step as the launcher's placement, minus its RCU grace period.
  for (int i = 0; i < fds.cgroup_task_fd_count; ++i) {
    if (write(fds.cgroup_task_fds[i], "0", 1) != 1) {
      Fail(fds.error_write, SetupStep::kJoinCgroup, errno, i);
    }
  }
  FdLayout layout;
  ArrangeFds(fds, &layout);
  const int error_fd = layout.error;

  if (plan.die_with_spawning_thread() && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
    Fail(error_fd, SetupStep::kParentDeathSignal, errno);
  }
  if (!ReadByte(layout.go)) Fail(error_fd, SetupStep::kWaitForParent, EPIPE);
  // The launcher may have died before PR_SET_PDEATHSIG took effect; its lifeline tells.
  struct pollfd lifeline {
    layout.lifeline, POLLIN, 0
  };
  if (poll(&lifeline, 1, 0) > 0) Fail(error_fd, SetupStep::kLauncherGone, EPIPE);

  if (setsid() < 0) Fail(error_fd, SetupStep::kSetsid, errno);
  // Entered only now, after the launcher placed us in the plugin's cgroup, so the cgroup
  // namespace root is the plugin's own cgroup.
  if (unshare(CLONE_NEWCGROUP) != 0) Fail(error_fd, SetupStep::kUnshareCgroup, errno);
  BuildMountTree(plan, error_fd, layout.exec);
  if (plan.report_tmp_dir()) {
    // O_NOFOLLOW: the launcher gets the tmpfs itself or nothing. Best effort (see
    // kTmpDirMarker): no fd only costs the tmp_size record, which the launcher reports.
    int tmp = open("/tmp", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tmp >= 0) {
      (void)SendWithFd(error_fd, SetupFailure{kTmpDirMarker, 0, -1}, tmp);
      close(tmp);
    }
  }
  if (sethostname(plan.hostname(), plan.hostname_length()) != 0) {
    Fail(error_fd, SetupStep::kSetHostname, errno);
  }
  DropPrivileges(plan, error_fd);
  // Non-dumpable: the program runs as the same uid, and must not reach init through
  // /proc/1/mem or similar.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) Fail(error_fd, SetupStep::kDumpable, errno);

  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  int signal_fd = signalfd(-1, &all, SFD_CLOEXEC);
  if (signal_fd < 0) Fail(error_fd, SetupStep::kForkPlugin, errno);
  long program;
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer cannot follow the switch to g_program_stack and warns on stderr at every
  // noreturn call there, which would end up in the program's stderr: the sanitizer build
  // clones the ordinary way.
  constexpr bool kShareInitMemory = false;
#else
  constexpr bool kShareInitMemory = true;
#endif
  if (!kShareInitMemory || plan.listener_via_pidfd()) {
    // The program process turns itself dumpable for pidfd_getfd, and dumpable belongs to the
    // mm: it must not share init's, or the program could reach init's memory after exec.
    program = syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (program == 0) RunProgram(plan, fds, layout);
  } else {
    // posix_spawn-style: the program process borrows init's memory until it execs (init
    // waits, CLONE_VFORK), so the kernel copies no page tables and the program takes no
    // copy-on-write faults. It writes only its own stack and errno, and changes nothing
    // shared: no CLONE_FILES, CLONE_FS or CLONE_SIGHAND, and init is already non-dumpable.
    ProgramArgs args{&plan, &fds, &layout};
    program = clone(ProgramEntry, g_program_stack + sizeof(g_program_stack),
                    CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  }
  if (program < 0) Fail(error_fd, SetupStep::kForkPlugin, errno);

  // Init's own filter, now that it only waits (InitFilter lists what that takes); the program
  // has exec'd (or is on its way, with its own filter). no_new_privs is set (DropPrivileges).
  // Before the error pipe closes, so a refusal still reaches the launcher as a setup failure;
  // the sandbox then ends with init.
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &InitFilter::Program()) != 0) {
    Fail(error_fd, SetupStep::kLoadInitSeccomp, errno);
  }
  // Init keeps only what it needs: the program must see EOF on its channels when it dies,
  // and the launcher must see EOF on the error pipe once the program has exec'd. close is
  // allowed by the filter.
  for (int fd = 3; fd < layout.exec; ++fd) close(fd);
  close(layout.exec);
  close(layout.error);
  close(layout.go);
  Supervise(static_cast<pid_t>(program), signal_fd, layout);
}

}  // namespace cordon::sandbox
