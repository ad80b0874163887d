// quota_bomb KIND [ARG]: exhausts one resource so tests can check the matching quota. Every
// loop is bounded, so a quota that does not work cannot take the machine down:
//   forks MAX         fork up to MAX children that block on a pipe (at most 30 s); prints
//                     "forks made=N errno=E" when fork fails or MAX is reached
//   memory MAX_MB     allocate and touch 1 MiB chunks up to MAX_MB; prints progress
//   spin MAX_S        burn CPU for at most MAX_S seconds of wall time
//   stubborn_spin MAX_S  the same with SIGXCPU ignored (only the hard limit's SIGKILL stops it)
//   sleep MAX_S       block for MAX_S seconds without CPU
//   fill PATH MAX_MB  append 1 MiB chunks to PATH until an error or MAX_MB; prints
//                     "fill bytes=N errno=E"
//   bigfile PATH BYTES  write BYTES to PATH in 64 KiB chunks; prints "bigfile bytes=N errno=E"
//   fds MAX           open /dev/null until an error or MAX fds; prints
//                     "fds opened=N highest=FD errno=E" (FD: the highest fd number it got)
//   spin_then_mount CPU_MS  burn CPU until the process has used CPU_MS of CPU time (at most
//                     30 s of wall time), print "spun cpu_ms=N", then call mount(2), which no
//                     profile allows; prints "mount ret=R errno=E" if it returns
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "probe_util.h"

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int forks(long max) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  long made = 0;
  int error_number = 0;
  for (; made < max; ++made) {
    pid_t pid = fork();
    if (pid < 0) {
      error_number = errno;
      break;
    }
    if (pid == 0) {
      // Blocks until the parent (or the sandbox) goes away; alarm bounds it anyway.
      close(pipefd[1]);
      alarm(30);
      char c;
      while (read(pipefd[0], &c, 1) < 0 && errno == EINTR) {
      }
      _exit(0);
    }
  }
  printf("forks made=%ld errno=%s\n", made, probe_errno_name(error_number));
  return 0;
}

static int memory(long max_mb) {
  for (long mb = 1; mb <= max_mb; ++mb) {
    char* chunk = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (chunk == MAP_FAILED) {
      printf("memory mb=%ld errno=%s\n", mb - 1, probe_errno_name(errno));
      return 0;
    }
    memset(chunk, 0x5a, 1 << 20);
    if (mb % 64 == 0) printf("memory progress mb=%ld\n", mb);
  }
  printf("memory mb=%ld errno=0\n", max_mb);
  return 0;
}

static long cpu_ms_used(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec * 1000 + usage.ru_utime.tv_usec / 1000 +
         usage.ru_stime.tv_sec * 1000 + usage.ru_stime.tv_usec / 1000;
}

static int spin(long max_seconds) {
  double end = now_seconds() + (double)max_seconds;
  volatile unsigned long counter = 0;
  while (now_seconds() < end) {
    for (int i = 0; i < 1000000; ++i) ++counter;
  }
  printf("spin done cpu_ms=%ld\n", cpu_ms_used());
  return 0;
}

static int fill(const char* path, long max_mb) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    probe_result("fill-open", -1, errno);
    return 1;
  }
  static char chunk[1 << 20];
  memset(chunk, 'f', sizeof(chunk));
  long long bytes = 0;
  int error_number = 0;
  while (bytes < (long long)max_mb << 20) {
    ssize_t n = write(fd, chunk, sizeof(chunk));
    if (n < 0) {
      error_number = errno;
      break;
    }
    bytes += n;
    if (n < (ssize_t)sizeof(chunk)) {
      // A short write means the next one reports why.
      n = write(fd, chunk, sizeof(chunk));
      error_number = n < 0 ? errno : 0;
      if (n > 0) bytes += n;
      break;
    }
  }
  close(fd);
  printf("fill bytes=%lld errno=%s\n", bytes, probe_errno_name(error_number));
  return 0;
}

static int bigfile(const char* path, long long total) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    probe_result("bigfile-open", -1, errno);
    return 1;
  }
  static char chunk[64 << 10];
  memset(chunk, 'b', sizeof(chunk));
  long long bytes = 0;
  int error_number = 0;
  while (bytes < total) {
    ssize_t n = write(fd, chunk, sizeof(chunk));
    if (n <= 0) {
      error_number = n < 0 ? errno : 0;
      break;
    }
    bytes += n;
  }
  close(fd);
  printf("bigfile bytes=%lld errno=%s\n", bytes, probe_errno_name(error_number));
  return 0;
}

static int fds(long max) {
  long opened = 0;
  int highest = -1;
  int error_number = 0;
  for (; opened < max; ++opened) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error_number = errno;
      break;
    }
    if (fd > highest) highest = fd;
  }
  printf("fds opened=%ld highest=%d errno=%s\n", opened, highest, probe_errno_name(error_number));
  return 0;
}

static int spin_then_mount(long cpu_ms) {
  double end = now_seconds() + 30.0;
  volatile unsigned long counter = 0;
  while (cpu_ms_used() < cpu_ms && now_seconds() < end) {
    for (int i = 0; i < 100000; ++i) ++counter;
  }
  printf("spun cpu_ms=%ld\n", cpu_ms_used());
  fflush(stdout);
  long rc = mount("none", "/tmp", "tmpfs", 0, NULL);
  printf("mount ret=%ld errno=%s\n", rc, probe_errno_name(rc < 0 ? errno : 0));
  return 0;
}

int main(int argc, char** argv) {
  probe_init();
  if (argc < 3) {
    fprintf(stderr, "usage: quota_bomb KIND ARG...\n");
    return 2;
  }
  const char* kind = argv[1];
  if (strcmp(kind, "forks") == 0) return forks(atol(argv[2]));
  if (strcmp(kind, "forks_then_pause") == 0) {
    // Hits the pids quota, then stays alive (bounded by alarm) so a test can see the record
    // appear while the plugin still runs.
    int rc = forks(atol(argv[2]));
    printf("paused\n");
    fflush(stdout);
    alarm(30);
    pause();
    return rc;
  }
  if (strcmp(kind, "memory") == 0) return memory(atol(argv[2]));
  if (strcmp(kind, "spin") == 0) return spin(atol(argv[2]));
  if (strcmp(kind, "stubborn_spin") == 0) {
    signal(SIGXCPU, SIG_IGN);
    return spin(atol(argv[2]));
  }
  if (strcmp(kind, "sleep") == 0) {
    printf("sleeping\n");
    struct timespec remaining = {atol(argv[2]), 0};
    while (nanosleep(&remaining, &remaining) != 0 && errno == EINTR) {
    }
    printf("slept\n");
    return 0;
  }
  if (strcmp(kind, "fill") == 0 && argc > 3) return fill(argv[2], atol(argv[3]));
  if (strcmp(kind, "bigfile") == 0 && argc > 3) return bigfile(argv[2], atoll(argv[3]));
  if (strcmp(kind, "fds") == 0) return fds(atol(argv[2]));
  if (strcmp(kind, "spin_then_mount") == 0) return spin_then_mount(atol(argv[2]));
  fprintf(stderr, "quota_bomb: unknown kind '%s'\n", kind);
  return 2;
}
