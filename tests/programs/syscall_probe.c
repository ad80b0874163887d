// syscall_probe CHECK...: attempts each named operation once with raw syscalls (no libc
// fallbacks that could hide the kernel's answer) and prints "<check> ret=<r> errno=<NAME>".
// Arguments are chosen so that even an unfiltered call would do no harm to the host: bad
// magic, invalid fds, a keyring lookup, a query. Exit status: 0, or 2 for an unknown check.
//
// Special checks that do not return normally when the sandbox works:
//   x32     - getpid with the x32 bit (nr | 0x40000000): the launcher must kill the program.
//   int80   - getpid through the i386 entry (int $0x80): killed by seccomp, or SIGSEGV on a
//             kernel without IA32 emulation.
//   burst N - N denied keyctl calls; prints how many failed with EPERM.
//   paced N - up to N denied keyctl calls, one per byte read from stdin; call I passes I as
//             its second argument and prints "answered I errno=NAME" once it has returned.
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "probe_util.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

// A clone whose child exits at once; returns the child's pid (reaped) or -1.
static long clone_flags(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return pid;
}

static long do_clone3(uint64_t flags) {
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return pid;
}

static long do_process_vm_readv(void) {
  char src[8] = "secret", dst[8];
  struct iovec local = {dst, sizeof(dst)};
  struct iovec remote = {src, sizeof(src)};
  return syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0);
}

static long do_process_vm_writev(void) {
  char src[8] = "secret", dst[8];
  struct iovec local = {src, sizeof(src)};
  struct iovec remote = {dst, sizeof(dst)};
  return syscall(SYS_process_vm_writev, getpid(), &local, 1, &remote, 1, 0);
}

static long do_setns(void) {
  int fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -2;  // reported as ret=-2 with the open's errno
  long ret = syscall(SYS_setns, fd, 0);
  int saved = errno;
  close(fd);
  errno = saved;
  return ret;
}

static long do_bpf(void) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
}

static long do_perf_event_open(void) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.disabled = 1;
  return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

static long do_io_uring_setup(void) {
  char params[120];  // struct io_uring_params, zeroed
  memset(params, 0, sizeof(params));
  return syscall(__NR_io_uring_setup, 1, params);
}

static long do_open_by_handle_at(void) {
  struct {
    unsigned int handle_bytes;
    int handle_type;
    unsigned char f_handle[8];
  } handle = {8, 1, {0}};
  return syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY);
}

static long do_name_to_handle_at(void) {
  struct {
    unsigned int handle_bytes;
    int handle_type;
    unsigned char f_handle[128];
  } handle = {128, 0, {0}};
  int mount_id = 0;
  return syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &handle, &mount_id, 0);
}

static long do_ioctl(unsigned long request) {
  char c = '#';
  return syscall(SYS_ioctl, 0, request, &c);
}

static long do_socket(unsigned long domain, int type) {
  long fd = syscall(SYS_socket, domain, type, 0);
  if (fd >= 0) close((int)fd);
  return fd;
}

static long do_socketpair(unsigned long domain) {
  int fds[2];
  long ret = syscall(SYS_socketpair, domain, SOCK_STREAM, 0, fds);
  if (ret == 0) {
    close(fds[0]);
    close(fds[1]);
  }
  return ret;
}

static long do_connect_abstract(const char* name) {
  int fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  size_t length = strlen(name);
  if (length > sizeof(addr.sun_path) - 1) length = sizeof(addr.sun_path) - 1;
  memcpy(addr.sun_path + 1, name, length);  // sun_path[0] == 0: abstract
  long ret = syscall(SYS_connect, fd, &addr, offsetof(struct sockaddr_un, sun_path) + 1 + length);
  int saved = errno;
  close(fd);
  errno = saved;
  return ret;
}

static long do_int80_getpid(void) {
  long ret = 20;  // __NR_getpid on i386
  __asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
  return ret;
}

static long do_burst(long count) {
  long denied = 0;
  for (long i = 0; i < count; ++i) {
    long r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    if (r < 0 && errno == EPERM) ++denied;
  }
  printf("burst count=%ld denied_eperm=%ld\n", count, denied);
  return 0;
}

static long do_paced(long count) {
  char byte;
  for (long i = 1; i <= count && read(STDIN_FILENO, &byte, 1) == 1; ++i) {
    long r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, i, 0);
    printf("answered %ld errno=%s\n", i, probe_errno_name(r < 0 ? errno : 0));
  }
  return 0;
}

// Runs one check; returns 0 when known.
static int run_check(const char* check, const char* arg) {
  long ret;
  errno = 0;
#define IS(name) (strcmp(check, name) == 0)
  if (IS("ptrace_traceme")) {
    ret = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
  } else if (IS("ptrace_attach")) {
    ret = syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, getppid(), 0, 0);
  } else if (IS("process_vm_readv")) {
    ret = do_process_vm_readv();
  } else if (IS("process_vm_writev")) {
    ret = do_process_vm_writev();
  } else if (IS("unshare_user")) {
    ret = syscall(SYS_unshare, CLONE_NEWUSER);
  } else if (IS("unshare_mount")) {
    ret = syscall(SYS_unshare, CLONE_NEWNS);
  } else if (IS("unshare_net")) {
    ret = syscall(SYS_unshare, CLONE_NEWNET);
  } else if (IS("unshare_pid")) {
    ret = syscall(SYS_unshare, CLONE_NEWPID);
  } else if (IS("setns")) {
    ret = do_setns();
  } else if (IS("clone_newnet")) {
    ret = clone_flags(CLONE_NEWNET);
  } else if (IS("clone_newuser")) {
    ret = clone_flags(CLONE_NEWUSER);
  } else if (IS("clone_exit_sigxfsz")) {
    // A child whose exit would send its parent SIGXFSZ: a faked file_size quota kill.
    ret = syscall(SYS_clone, SIGXFSZ, 0, 0, 0, 0);
    if (ret == 0) _exit(0);
    if (ret > 0) {
      waitpid((pid_t)ret, NULL, __WALL);
      ret = 0;
    }
  } else if (IS("clone_plain")) {
    ret = clone_flags(0);
    if (ret > 0) ret = 0;
  } else if (IS("clone3_newnet")) {
    ret = do_clone3(CLONE_NEWNET);
  } else if (IS("clone3_plain")) {
    ret = do_clone3(0);
  } else if (IS("mount")) {
    ret = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
  } else if (IS("umount2")) {
    ret = syscall(SYS_umount2, "/tmp", MNT_DETACH);
  } else if (IS("pivot_root")) {
    ret = syscall(SYS_pivot_root, "/tmp", "/tmp");
  } else if (IS("chroot")) {
    ret = syscall(SYS_chroot, "/tmp");
  } else if (IS("open_tree")) {
    ret = syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE);
  } else if (IS("fsopen")) {
    ret = syscall(SYS_fsopen, "tmpfs", 0);
  } else if (IS("fsmount")) {
    ret = syscall(SYS_fsmount, -1, 0, 0);
  } else if (IS("move_mount")) {
    ret = syscall(SYS_move_mount, -1, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH);
  } else if (IS("mount_setattr")) {
    ret = syscall(SYS_mount_setattr, AT_FDCWD, "/tmp", 0, NULL, 0);
  } else if (IS("keyctl")) {
    ret = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
  } else if (IS("add_key")) {
    ret = syscall(SYS_add_key, "user", "cordon-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);
  } else if (IS("request_key")) {
    ret = syscall(SYS_request_key, "user", "cordon-probe", NULL, KEY_SPEC_PROCESS_KEYRING);
  } else if (IS("bpf")) {
    ret = do_bpf();
  } else if (IS("perf_event_open")) {
    ret = do_perf_event_open();
  } else if (IS("userfaultfd")) {
    ret = syscall(SYS_userfaultfd, 0);
  } else if (IS("io_uring_setup")) {
    ret = do_io_uring_setup();
  } else if (IS("io_uring_enter")) {
    ret = syscall(426, -1, 0, 0, 0, NULL, 0);
  } else if (IS("io_uring_register")) {
    ret = syscall(427, -1, 0, NULL, 0);
  } else if (IS("open_by_handle_at")) {
    ret = do_open_by_handle_at();
  } else if (IS("name_to_handle_at")) {
    ret = do_name_to_handle_at();
  } else if (IS("kexec_load")) {
    ret = syscall(SYS_kexec_load, 0, 0, NULL, 0);
  } else if (IS("kexec_file_load")) {
    ret = syscall(SYS_kexec_file_load, -1, -1, 0, "", 0);
  } else if (IS("init_module")) {
    ret = syscall(SYS_init_module, NULL, 0, "");
  } else if (IS("finit_module")) {
    ret = syscall(SYS_finit_module, -1, "", 0);
  } else if (IS("delete_module")) {
    ret = syscall(SYS_delete_module, "cordon_no_such_module", O_NONBLOCK);
  } else if (IS("reboot")) {
    // Valid magic, invalid command: never reboots even if it got through.
    ret = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, 0x0badc0deU, NULL);
  } else if (IS("socket_inet")) {
    ret = do_socket(AF_INET, SOCK_STREAM);
  } else if (IS("socket_inet6")) {
    ret = do_socket(AF_INET6, SOCK_DGRAM);
  } else if (IS("socket_netlink")) {
    ret = do_socket(AF_NETLINK, SOCK_RAW);
  } else if (IS("socket_packet")) {
    ret = do_socket(AF_PACKET, SOCK_RAW);
  } else if (IS("socket_inet_highbits")) {
    // The kernel reads an int: this is AF_INET with garbage in the upper half.
    ret = do_socket(0xffffffff00000000UL | AF_INET, SOCK_STREAM);
  } else if (IS("socket_unix")) {
    ret = do_socket(AF_UNIX, SOCK_STREAM);
    if (ret >= 0) ret = 0;
  } else if (IS("socketpair_unix")) {
    ret = do_socketpair(AF_UNIX);
  } else if (IS("socketpair_inet")) {
    ret = do_socketpair(AF_INET);
  } else if (IS("ioctl_tiocsti")) {
    ret = do_ioctl(TIOCSTI);
  } else if (IS("ioctl_tiocsti_highbits")) {
    ret = do_ioctl(0xffffffff00005412UL);
  } else if (IS("ioctl_tioclinux")) {
    ret = do_ioctl(TIOCLINUX);
  } else if (IS("ioctl_fionread")) {
    int n = 0;
    ret = syscall(SYS_ioctl, 0, FIONREAD, &n);
  } else if (IS("personality_query")) {
    ret = syscall(SYS_personality, 0xffffffffUL);
  } else if (IS("personality_read_implies_exec")) {
    ret = syscall(SYS_personality, READ_IMPLIES_EXEC);
  } else if (IS("personality_addr_no_randomize")) {
    ret = syscall(SYS_personality, ADDR_NO_RANDOMIZE);
  } else if (IS("sethostname")) {
    ret = syscall(SYS_sethostname, "evil", 4);
  } else if (IS("setdomainname")) {
    ret = syscall(SYS_setdomainname, "evil", 4);
  } else if (IS("kill_init")) {
    ret = syscall(SYS_kill, 1, SIGKILL);
  } else if (IS("kill_all")) {
    // Every process this one may signal: inside the sandbox that is nothing but itself.
    signal(SIGTERM, SIG_IGN);
    ret = syscall(SYS_kill, -1, SIGTERM);
  } else if (IS("prctl_set_mm")) {
    ret = syscall(SYS_prctl, 35 /* PR_SET_MM */, 0, 0, 0, 0);
  } else if (IS("prctl_set_name")) {
    ret = syscall(SYS_prctl, 15 /* PR_SET_NAME */, "probe", 0, 0, 0);
  } else if (strncmp(check, "kill_pid=", 9) == 0) {
    // A pid number taken from the host: another pid namespace, so it must not be reachable.
    ret = syscall(SYS_kill, atoi(check + 9), 0);
  } else if (strncmp(check, "connect_abstract=", 17) == 0) {
    // An abstract-namespace Unix socket the host listens on: scoped to the network namespace.
    ret = do_connect_abstract(check + 17);
  } else if (IS("x32")) {
    ret = syscall(__NR_getpid | 0x40000000);
  } else if (IS("int80")) {
    ret = do_int80_getpid();
    // The i386 ABI returns -errno in eax.
    if (ret < 0 && ret > -4096) {
      errno = (int)-ret;
      ret = -1;
    }
  } else if (IS("burst")) {
    return (int)do_burst(arg != NULL ? strtol(arg, NULL, 10) : 10000);
  } else if (IS("paced")) {
    return (int)do_paced(arg != NULL ? strtol(arg, NULL, 10) : 10);
  } else {
    fprintf(stderr, "syscall_probe: unknown check '%s'\n", check);
    return 2;
  }
#undef IS
  probe_result(check, ret, errno);
  return 0;
}

int main(int argc, char** argv) {
  probe_init();
  if (argc < 2) {
    fprintf(stderr, "usage: syscall_probe CHECK... | burst N | paced N\n");
    return 2;
  }
  if (strcmp(argv[1], "burst") == 0 || strcmp(argv[1], "paced") == 0) {
    return run_check(argv[1], argc > 2 ? argv[2] : NULL);
  }
  for (int i = 1; i < argc; ++i) {
    if (run_check(argv[i], NULL) != 0) return 2;
  }
  return 0;
}
