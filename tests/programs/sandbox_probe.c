// sandbox_probe COMMAND [ARG...]: reports what the sandbox looks like from inside, one fact
// per line, for tests/integration to assert on.
//   status            "status <Field> <value>" for the Cap*, NoNewPrivs, Seccomp lines
//   initstatus        the same for the sandbox's pid 1 ("initstatus <Field> <value>"), once
//                     its Seccomp line says 2 (at most 200000 looks)
//   ids               "ids uid=.. euid=.. gid=.. egid=.. groups=N"
//   fds               "fd <n> <target>" for every open fd (excluding the directory fd used)
//   procs             "proc <pid> <comm>" for every process in /proc, then "procs count=N"
//   netifs            "netif <name>" for every interface in /proc/net/dev
//   hostname          "hostname <name>"
//   mounts            "mount <mountpoint> <per-mount options> <fstype>" from mountinfo
//   dev               "dev <name>" for every entry of /dev
//   open PATH...      "open <path> ret=.. errno=.." (read-only open), plus "content <first line>"
//   write PATH...     "write <path> ret=.. errno=.." (O_WRONLY|O_CREAT, writes one byte)
//   tty               open /dev/tty, and TIOCGPGRP on fds 0..2
//   pid               "pid <getpid> ppid <getppid> sid <getsid>"
//   orphans N         makes N orphaned grandchildren that exit, then reports zombies seen
//   daemon NAME       forks a child that renames itself NAME, leaves the session and blocks
//                     (at most 60 s); the probe exits 0 once the child is named
//   exit N            exits with status N
//   signal N          raises signal N (default action)
//   pause             waits forever (blocking, no CPU), bounded at 120 s
//   env               "env <entry>" for each environment entry
//   cwd               "cwd <path>"
//   ns                "ns <type> <link>" for user, pid, mnt, net, ipc, uts, cgroup
//   cgroup            "cgroup <line>" for each line of /proc/self/cgroup
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

extern char** environ;

static char buf[1 << 16];

// `prefix` <Field> <value> for the Cap*, NoNewPrivs and Seccomp lines of `path`.
static int cmd_status(const char* path, const char* prefix) {
  long n = probe_read_file(path, buf, sizeof(buf));
  if (n < 0) {
    probe_result(prefix, n, (int)-n);
    return 1;
  }
  for (char* line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    if (strncmp(line, "Cap", 3) == 0 || strncmp(line, "NoNewPrivs:", 11) == 0 ||
        strncmp(line, "Seccomp:", 8) == 0) {
      char* colon = strchr(line, ':');
      *colon = '\0';
      char* value = colon + 1;
      while (*value == ' ' || *value == '\t') ++value;
      printf("%s %s %s\n", prefix, line, value);
    }
  }
  return 0;
}

static int cmd_ids(void) {
  gid_t groups[64];
  int count = getgroups(64, groups);
  printf("ids uid=%d euid=%d gid=%d egid=%d groups=%d\n", (int)getuid(), (int)geteuid(),
         (int)getgid(), (int)getegid(), count);
  return 0;
}

static int cmd_fds(void) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == NULL) {
    probe_result("fds", -1, errno);
    return 1;
  }
  int own = dirfd(dir);
  struct dirent* entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.') continue;
    int fd = atoi(entry->d_name);
    if (fd == own) continue;
    char path[64], target[512];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    target[n < 0 ? 0 : n] = '\0';
    printf("fd %d %s\n", fd, target);
  }
  closedir(dir);
  return 0;
}

static int cmd_procs(void) {
  DIR* dir = opendir("/proc");
  if (dir == NULL) {
    probe_result("procs", -1, errno);
    return 1;
  }
  int count = 0;
  struct dirent* entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    char path[300];
    snprintf(path, sizeof(path), "/proc/%s/comm", entry->d_name);
    char comm[64] = "?";
    if (probe_read_file(path, comm, sizeof(comm)) > 0) comm[strcspn(comm, "\n")] = '\0';
    printf("proc %s %s\n", entry->d_name, comm);
    ++count;
  }
  closedir(dir);
  printf("procs count=%d\n", count);
  return 0;
}

static int cmd_netifs(void) {
  long n = probe_read_file("/proc/net/dev", buf, sizeof(buf));
  if (n < 0) {
    probe_result("netifs", n, (int)-n);
    return 1;
  }
  for (char* line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    char* colon = strchr(line, ':');
    if (colon == NULL) continue;  // the two header lines
    *colon = '\0';
    while (*line == ' ') ++line;
    printf("netif %s\n", line);
  }
  return 0;
}

static int cmd_mounts(void) {
  long n = probe_read_file("/proc/self/mountinfo", buf, sizeof(buf));
  if (n < 0) {
    probe_result("mounts", n, (int)-n);
    return 1;
  }
  for (char* line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    char* fields[16];
    int count = 0;
    for (char* p = line; count < 16;) {
      fields[count++] = p;
      p = strchr(p, ' ');
      if (p == NULL) break;
      *p++ = '\0';
    }
    const char* fstype = "?";
    for (int i = 6; i + 1 < count; ++i) {
      if (strcmp(fields[i], "-") == 0) {
        fstype = fields[i + 1];
        break;
      }
    }
    if (count >= 6) printf("mount %s %s %s\n", fields[4], fields[5], fstype);
  }
  return 0;
}

static int cmd_dev(void) {
  DIR* dir = opendir("/dev");
  if (dir == NULL) {
    probe_result("dev", -1, errno);
    return 1;
  }
  struct dirent* entry;
  while ((entry = readdir(dir)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    printf("dev %s\n", entry->d_name);
  }
  closedir(dir);
  return 0;
}

static int cmd_open(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    printf("open %s ret=%d errno=%s\n", argv[i], fd < 0 ? -1 : 0,
           fd < 0 ? probe_errno_name(errno) : "0");
    if (fd >= 0) {
      ssize_t n = read(fd, buf, 256);
      if (n > 0) {
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        printf("content %s\n", buf);
      }
      close(fd);
    }
  }
  return 0;
}

static int cmd_write(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    int fd = open(argv[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    int saved = errno;
    long ret = fd;
    if (fd >= 0) {
      ret = write(fd, "x", 1) == 1 ? 0 : -1;
      saved = errno;
      close(fd);
    }
    printf("write %s ret=%ld errno=%s\n", argv[i], ret, ret < 0 ? probe_errno_name(saved) : "0");
  }
  return 0;
}

static int cmd_tty(void) {
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
  printf("open /dev/tty ret=%d errno=%s\n", fd < 0 ? -1 : 0,
         fd < 0 ? probe_errno_name(errno) : "0");
  if (fd >= 0) close(fd);
  for (int i = 0; i < 3; ++i) {
    pid_t pgrp = 0;
    int r = ioctl(i, TIOCGPGRP, &pgrp);
    printf("tiocgpgrp %d ret=%d errno=%s\n", i, r, r < 0 ? probe_errno_name(errno) : "0");
  }
  return 0;
}

// Children fork grandchildren and exit at once: the grandchildren are re-parented to the
// sandbox's pid 1, which must reap them when they exit.
static int cmd_orphans(int count) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  for (int i = 0; i < count; ++i) {
    pid_t child = fork();
    if (child < 0) {
      probe_result("fork", -1, errno);
      return 1;
    }
    if (child == 0) {
      pid_t grandchild = fork();
      if (grandchild == 0) {
        close(pipefd[0]);
        // Exits when its parent is gone and it belongs to init; the pipe tells the probe.
        while (getppid() != 1) usleep(1000);
        _exit(0);
      }
      _exit(0);
    }
    waitpid(child, NULL, 0);
  }
  close(pipefd[1]);
  // EOF once every grandchild has exited (each held the write end).
  char c;
  while (read(pipefd[0], &c, 1) > 0) {
  }
  // Give init a bounded chance to reap: poll /proc for zombies for up to 2 s.
  int zombies = -1;
  for (int attempt = 0; attempt < 200 && zombies != 0; ++attempt) {
    zombies = 0;
    DIR* dir = opendir("/proc");
    struct dirent* entry;
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      char path[300], stat[512];
      snprintf(path, sizeof(path), "/proc/%s/stat", entry->d_name);
      if (probe_read_file(path, stat, sizeof(stat)) <= 0) continue;
      char* close_paren = strrchr(stat, ')');
      if (close_paren != NULL && close_paren[1] == ' ' && close_paren[2] == 'Z') ++zombies;
    }
    if (dir != NULL) closedir(dir);
    if (zombies != 0) usleep(10000);
  }
  printf("orphans count=%d zombies=%d\n", count, zombies);
  return 0;
}

int main(int argc, char** argv) {
  probe_init();
  if (argc < 2) {
    fprintf(stderr, "usage: sandbox_probe COMMAND [ARG...]\n");
    return 2;
  }
  const char* cmd = argv[1];
  if (strcmp(cmd, "status") == 0) return cmd_status("/proc/self/status", "status");
  if (strcmp(cmd, "initstatus") == 0) {
    // Init loads its filter just after the program starts (it cannot before: the program
    // would inherit it), so a fast program may look first. Wait for it, bounded.
    for (int i = 0; i < 200000; ++i) {
      long n = probe_read_file("/proc/1/status", buf, sizeof(buf));
      if (n > 0 && strstr(buf, "Seccomp:\t2") != NULL) break;
      sched_yield();
    }
    return cmd_status("/proc/1/status", "initstatus");
  }
  if (strcmp(cmd, "ids") == 0) return cmd_ids();
  if (strcmp(cmd, "fds") == 0) return cmd_fds();
  if (strcmp(cmd, "procs") == 0) return cmd_procs();
  if (strcmp(cmd, "netifs") == 0) return cmd_netifs();
  if (strcmp(cmd, "mounts") == 0) return cmd_mounts();
  if (strcmp(cmd, "dev") == 0) return cmd_dev();
  if (strcmp(cmd, "open") == 0) return cmd_open(argc - 2, argv + 2);
  if (strcmp(cmd, "write") == 0) return cmd_write(argc - 2, argv + 2);
  if (strcmp(cmd, "tty") == 0) return cmd_tty();
  if (strcmp(cmd, "orphans") == 0) return cmd_orphans(argc > 2 ? atoi(argv[2]) : 4);
  if (strcmp(cmd, "hostname") == 0) {
    char name[256] = "";
    gethostname(name, sizeof(name) - 1);
    printf("hostname %s\n", name);
    return 0;
  }
  if (strcmp(cmd, "pid") == 0) {
    printf("pid %d ppid %d sid %d\n", (int)getpid(), (int)getppid(), (int)getsid(0));
    return 0;
  }
  if (strcmp(cmd, "env") == 0) {
    for (char** e = environ; *e != NULL; ++e) printf("env %s\n", *e);
    return 0;
  }
  if (strcmp(cmd, "ns") == 0) {
    const char* types[] = {"user", "pid", "mnt", "net", "ipc", "uts", "cgroup"};
    for (int i = 0; i < 7; ++i) {
      char path[64], target[128];
      snprintf(path, sizeof(path), "/proc/self/ns/%s", types[i]);
      ssize_t n = readlink(path, target, sizeof(target) - 1);
      target[n < 0 ? 0 : n] = '\0';
      printf("ns %s %s\n", types[i], n < 0 ? probe_errno_name(errno) : target);
    }
    return 0;
  }
  if (strcmp(cmd, "cgroup") == 0) {
    long n = probe_read_file("/proc/self/cgroup", buf, sizeof(buf));
    if (n < 0) {
      probe_result("cgroup", n, (int)-n);
      return 1;
    }
    for (char* line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
      printf("cgroup %s\n", line);
    }
    return 0;
  }
  if (strcmp(cmd, "cwd") == 0) {
    char path[4096] = "";
    printf("cwd %s\n", getcwd(path, sizeof(path)) != NULL ? path : "?");
    return 0;
  }
  if (strcmp(cmd, "daemon") == 0 && argc > 2) {
    int ready[2];
    if (pipe(ready) != 0) return 1;
    pid_t child = fork();
    if (child < 0) {
      probe_result("fork", -1, errno);
      return 1;
    }
    if (child == 0) {
      close(ready[0]);
      setsid();
      prctl(PR_SET_NAME, argv[2], 0, 0, 0);
      close(ready[1]);
      struct timespec remaining = {60, 0};
      while (nanosleep(&remaining, &remaining) != 0 && errno == EINTR) {
      }
      _exit(0);
    }
    close(ready[1]);
    char c;
    while (read(ready[0], &c, 1) > 0) {
    }
    printf("daemon pid=%d\n", (int)child);
    return 0;
  }
  if (strcmp(cmd, "exit") == 0) return argc > 2 ? atoi(argv[2]) : 0;
  if (strcmp(cmd, "signal") == 0) {
    int sig = argc > 2 ? atoi(argv[2]) : SIGTERM;
    signal(sig, SIG_DFL);
    raise(sig);
    return 3;  // not reached for a fatal signal
  }
  if (strcmp(cmd, "pause") == 0) {
    printf("paused\n");
    struct timespec remaining = {120, 0};
    while (nanosleep(&remaining, &remaining) != 0 && errno == EINTR) {
    }
    return 0;
  }
  fprintf(stderr, "sandbox_probe: unknown command '%s'\n", cmd);
  return 2;
}
