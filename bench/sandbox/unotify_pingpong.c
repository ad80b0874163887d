/* The floor under cordon's denied-syscall cost: a bare seccomp user-notification round trip
 * (child's syscall -> supervisor's RECV ioctl -> SEND ioctl with EPERM -> child resumes),
 * without cordon's supervisor, audit or epoll loop, with and without
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6+: the kernel wakes the waiting side
 * synchronously, on the same CPU when possible).
 *   unotify_pingpong N [sync]   prints ns per round trip, measured in the child */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

static long long NowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void SendFd(int sock, int fd) {
  char data = 'x';
  struct iovec iov = {.iov_base = &data, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(sock, &msg, 0) != 1) _exit(10);
}

static int RecvFd(int sock) {
  char data;
  struct iovec iov = {.iov_base = &data, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
  if (recvmsg(sock, &msg, 0) != 1) return -1;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: unotify_pingpong N [sync]\n");
    return 2;
  }
  const long n = strtol(argv[1], NULL, 10);
  const int sync_wake = argc > 2 && strcmp(argv[2], "sync") == 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setuid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(11);
    int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0) _exit(12);
    SendFd(sv[1], listener);
    close(listener);
    char go;
    if (read(sv[1], &go, 1) != 1) _exit(13);
    long long start = NowNs();
    for (long i = 0; i < n; ++i) {
      if (syscall(SYS_setuid, 0) != -1 || errno != EPERM) _exit(14);
    }
    long long elapsed = NowNs() - start;
    printf("unotify round trip%s, %ld calls: %.1f ns/call\n", sync_wake ? " (sync wake-up)" : "",
           n, (double)elapsed / n);
    fflush(stdout);
    _exit(0);
  }
  int listener = RecvFd(sv[0]);
  if (listener < 0) return 1;
  if (sync_wake && ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                         (unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) != 0) {
    perror("SECCOMP_IOCTL_NOTIF_SET_FLAGS");
    return 1;
  }
  if (write(sv[0], "g", 1) != 1) return 1;
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  for (long i = 0; i < n; ++i) {
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
      perror("NOTIF_RECV");
      return 1;
    }
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    resp.error = -EPERM;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0) {
      perror("NOTIF_SEND");
      return 1;
    }
  }
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
