#include "sandbox-profiles/syscall_groups.h"

#include <linux/audit.h>
#include <seccomp.h>
#include <stdlib.h>

#include <algorithm>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sandbox-profiles/string_view_compat.h"

namespace cordon::profiles {
namespace {

// Why each syscall sits where it does is in docs/profiles.md; the lists below must match it.
const std::vector<SyscallGroups::Group>& BuildGroups() {
  static const auto* groups = new std::vector<SyscallGroups::Group>{
      {"base",
       "what every program needs: memory, time, signals, exit, threads' futexes, own ids, "
       "I/O on fds it already holds, pipes, polling, execve/execveat (the launcher execs the "
       "program after the filter is loaded)",
       {// memory
        "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "msync", "mincore", "membarrier",
        "memfd_create",
        // time and timers
        "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
        "alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
        "timer_getoverrun", "timer_delete", "times",
        // signals (kill reaches only the sandbox's own pid namespace)
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
        "rt_sigtimedwait", "sigaltstack", "pause", "restart_syscall", "kill", "tgkill", "tkill",
        // exit, threads, scheduling queries
        "exit", "exit_group", "futex", "futex_waitv", "get_robust_list", "set_robust_list",
        "set_tid_address", "rseq", "arch_prctl", "sched_yield", "sched_getaffinity",
        "sched_getparam", "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
        "getpriority", "getcpu",
        // own identity and limits
        "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
        "getresuid", "getresgid", "getpgrp", "getpgid", "getsid", "uname", "sysinfo", "getrusage",
        "getrlimit", "prlimit64", "capget", "umask", "getrandom",
        // I/O on descriptors already held
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
        "pwritev2", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "lseek", "fstat",
        "fstatfs", "getcwd", "sendfile", "splice", "tee", "pipe", "pipe2", "poll", "ppoll",
        "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "timerfd_create", "timerfd_settime",
        "timerfd_gettime", "signalfd", "signalfd4",
        // argument-checked by the compiler whatever the groups say
        "ioctl", "prctl", "personality",
        // starting the program
        "execve", "execveat"}},
      {"channel",
       "talk over sockets already open (the cordon channel on fd 3): send/receive messages and "
       "fds, shut down, query",
       {"sendmsg", "recvmsg", "sendto", "recvfrom", "sendmmsg", "recvmmsg", "shutdown",
        "getsockname", "getpeername", "getsockopt"}},
      {"file-read",
       "open, stat, list and read files and directories in the mount tree (opening for write "
       "is possible too; read-only binds are what keep the host's files read-only)",
       {"open",
        "openat",
        "openat2",
        "stat",
        "lstat",
        "newfstatat",
        "statx",
        "access",
        "faccessat",
        "faccessat2",
        "readlink",
        "readlinkat",
        "getdents",
        "getdents64",
        "chdir",
        "fchdir",
        "statfs",
        "fadvise64",
        "readahead",
        "getxattr",
        "lgetxattr",
        "fgetxattr",
        "listxattr",
        "llistxattr",
        "flistxattr",
        "inotify_init",
        "inotify_init1",
        "inotify_add_watch",
        "inotify_rm_watch"}},
      {"file-write",
       "create, change and remove files where the mount tree is writable (e.g. /tmp)",
       {"creat",          "mkdir",           "mkdirat",      "rmdir",        "unlink",
        "unlinkat",       "rename",          "renameat",     "renameat2",    "link",
        "linkat",         "symlink",         "symlinkat",    "chmod",        "fchmod",
        "fchmodat",       "chown",           "fchown",       "fchownat",     "lchown",
        "truncate",       "ftruncate",       "fallocate",    "fsync",        "fdatasync",
        "syncfs",         "sync_file_range", "utime",        "utimes",       "utimensat",
        "futimesat",      "mknod",           "mknodat",      "setxattr",     "lsetxattr",
        "fsetxattr",      "removexattr",     "lremovexattr", "fremovexattr", "flock",
        "copy_file_range"}},
      {"process",
       "start and wait for processes and threads (clone without namespace flags), signal "
       "them, process groups and sessions",
       {"clone", "fork", "vfork", "execve", "execveat", "wait4", "waitid", "kill", "tgkill",
        "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setpgid", "setsid", "pidfd_open",
        "pidfd_send_signal", "sched_setaffinity", "setpriority"}},
      {"ipc-unix",
       "Unix-domain sockets: socket and socketpair (AF_UNIX only), connect, bind, listen, "
       "accept, plus everything in channel",
       {"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "setsockopt",
        "sendmsg", "recvmsg", "sendto", "recvfrom", "sendmmsg", "recvmmsg", "shutdown",
        "getsockname", "getpeername", "getsockopt"}},
      {"ipc-sysv",
       "System V shared memory, semaphores and message queues (private to the sandbox's IPC "
       "namespace)",
       {"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget",
        "msgsnd", "msgrcv", "msgctl"}},
      {"set-ids",
       "change own uid/gid/groups (without capabilities only to ids already held)",
       {"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
        "setfsuid", "setfsgid"}},
  };
  return *groups;
}

constexpr uint32_t kX32SyscallBit = 0x40000000;

constexpr std::string_view kNeverAllowed[] = {"ptrace",
                                              "process_vm_readv",
                                              "process_vm_writev",
                                              "unshare",
                                              "setns",
                                              "mount",
                                              "umount2",
                                              "pivot_root",
                                              "chroot",
                                              "move_mount",
                                              "open_tree",
                                              "fsopen",
                                              "fsconfig",
                                              "fsmount",
                                              "fspick",
                                              "mount_setattr",
                                              "keyctl",
                                              "add_key",
                                              "request_key",
                                              "bpf",
                                              "perf_event_open",
                                              "userfaultfd",
                                              "io_uring_setup",
                                              "io_uring_enter",
                                              "io_uring_register",
                                              "open_by_handle_at",
                                              "name_to_handle_at",
                                              "kexec_load",
                                              "kexec_file_load",
                                              "init_module",
                                              "finit_module",
                                              "delete_module",
                                              "reboot",
                                              "settimeofday",
                                              "clock_settime",
                                              "clock_adjtime",
                                              "adjtimex",
                                              "swapon",
                                              "swapoff",
                                              "acct",
                                              "quotactl",
                                              "syslog",
                                              "iopl",
                                              "ioperm",
                                              "vhangup",
                                              "lookup_dcookie",
                                              "nfsservctl"};

absl::Status CheckName(std::string_view name, std::string_view field) {
  if (!SyscallGroups::Number(name).has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "seccomp.", Av(field), ": unknown x86_64 syscall '", Av(name),
        "'; use the kernel's name as in `ausyscall --dump` (e.g. 'openat', 'newfstatat')"));
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<SyscallGroups::Group>& SyscallGroups::All() { return BuildGroups(); }

absl::StatusOr<const SyscallGroups::Group*> SyscallGroups::Lookup(std::string_view name) {
  for (const Group& group : All()) {
    if (group.name == name) return &group;
  }
  return absl::NotFoundError(absl::StrCat("unknown syscall group '", Av(name), "'; known groups: ",
                                          absl::StrJoin(Names(), ", "), " (see docs/profiles.md)"));
}

std::vector<std::string> SyscallGroups::Names() {
  std::vector<std::string> names;
  for (const Group& group : All()) names.emplace_back(group.name);
  return names;
}

absl::Span<const std::string_view> SyscallGroups::NeverAllowed() { return kNeverAllowed; }

bool SyscallGroups::IsNeverAllowed(std::string_view syscall) {
  return std::find(std::begin(kNeverAllowed), std::end(kNeverAllowed), syscall) !=
         std::end(kNeverAllowed);
}

std::optional<int> SyscallGroups::Number(std::string_view syscall) {
  // libseccomp needs a NUL-terminated name; syscall names are short, so cap before copying.
  if (syscall.empty() || syscall.size() > 64) return std::nullopt;
  std::string name(syscall);
  int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name.c_str());
  // Negative numbers are libseccomp's pseudo-syscalls for names that do not exist on x86_64.
  if (nr < 0) return std::nullopt;
  return nr;
}

std::string SyscallGroups::NameForNumber(uint32_t audit_arch, int nr) {
  uint32_t arch = 0;
  if (audit_arch == AUDIT_ARCH_X86_64) {
    arch = (static_cast<uint32_t>(nr) & kX32SyscallBit) ? SCMP_ARCH_X32 : SCMP_ARCH_X86_64;
  } else if (audit_arch == AUDIT_ARCH_I386) {
    arch = SCMP_ARCH_X86;
  }
  char* name = arch == 0 ? nullptr : seccomp_syscall_resolve_num_arch(arch, nr);
  if (name == nullptr) return absl::StrCat("nr:", nr);
  std::string result(name);
  free(name);  // libseccomp hands out malloc'd names
  return result;
}

absl::StatusOr<std::vector<SyscallGroups::Entry>> SyscallGroups::Resolve(
    const cordon::v1::SeccompPolicy& policy) {
  std::map<std::string, std::string> allowed;
  for (const std::string& group_name : policy.groups()) {
    absl::StatusOr<const Group*> group = Lookup(group_name);
    if (!group.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("seccomp.groups: ", group.status().message()));
    }
    for (std::string_view name : (*group)->syscalls) {
      allowed.emplace(std::string(name), std::string(group_name));
    }
  }
  for (const std::string& name : policy.allow()) {
    if (absl::Status s = CheckName(name, "allow"); !s.ok()) return s;
    if (IsNeverAllowed(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seccomp.allow: '", name,
          "' is never allowed (it can escape or weaken the sandbox); if you really need it, "
          "name it in seccomp.danger_allow instead"));
    }
    if (name == "clone3") {
      return absl::InvalidArgumentError(
          "seccomp.allow: 'clone3' is always answered ENOSYS (its flags live in memory a "
          "filter cannot inspect; libc falls back to clone); remove it from allow");
    }
    allowed.emplace(name, "allow");
  }
  for (const std::string& name : policy.danger_allow()) {
    if (absl::Status s = CheckName(name, "danger_allow"); !s.ok()) return s;
    if (!IsNeverAllowed(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("seccomp.danger_allow: '", name,
                       "' is not on the never-allowed list; name it in seccomp.allow instead"));
    }
    allowed.emplace(name, "danger_allow");
  }
  for (const std::string& name : policy.deny()) {
    if (absl::Status s = CheckName(name, "deny"); !s.ok()) return s;
    allowed.erase(name);
  }
  std::vector<Entry> entries;
  entries.reserve(allowed.size());
  for (auto& [name, origin] : allowed) entries.push_back(Entry{name, origin});
  return entries;
}

}  // namespace cordon::profiles
