// Gives bwrap the quotas cordon's minimal profile has, so that "cordon run --profile minimal"
// can be compared with bwrap under comparable isolation (bench/sandbox/run.sh):
//
//   cgroup_wrap MEMORY_BYTES PIDS -- COMMAND [ARG...]
//
// The same cgroup v1 work cordon does per start (docs/performance-sandbox.md): a leaf below
// this process's own cgroup in each of memory, pids, cpu, cpuacct and freezer; memory and
// memory+swap limits, OOM killer on, pids.max; the command placed in all of them; after it
// exits, the usage counters cordon reports read back (peak memory, CPU time, OOM and pids
// events); the leaves removed. Written in C with no error recovery beyond exiting: it is a
// benchmark fixture, not a tool. Needs root and cgroup v1 (this machine's hierarchy).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* const kControllers[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};
enum { kCount = sizeof(kControllers) / sizeof(kControllers[0]) };

static void die(const char* what) {
  perror(what);
  exit(125);
}

// This process's cgroup path in the v1 hierarchy carrying `controller` ("" when none).
static void own_cgroup(const char* controller, char* out, size_t size) {
  FILE* f = fopen("/proc/self/cgroup", "re");
  if (f == NULL) die("/proc/self/cgroup");
  char line[1024];
  out[0] = '\0';
  while (fgets(line, sizeof(line), f) != NULL) {
    char* controllers = strchr(line, ':');
    if (controllers == NULL) continue;
    char* path = strchr(++controllers, ':');
    if (path == NULL) continue;
    *path++ = '\0';
    path[strcspn(path, "\n")] = '\0';
    for (char* c = strtok(controllers, ","); c != NULL; c = strtok(NULL, ",")) {
      if (strcmp(c, controller) == 0) snprintf(out, size, "%s", path);
    }
  }
  fclose(f);
}

static void write_file(const char* dir, const char* name, const char* value) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value)) die(path);
  close(fd);
}

static long long read_number(const char* dir, const char* name) {
  char path[4096], buf[256];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(path);
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n < 0) die(path);
  buf[n] = '\0';
  return atoll(buf);
}

int main(int argc, char** argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    fprintf(stderr, "usage: cgroup_wrap MEMORY_BYTES PIDS -- COMMAND [ARG...]\n");
    return 2;
  }
  char dirs[kCount][4096], parents[kCount][4096];
  for (int i = 0; i < kCount; ++i) {
    char own[2048];
    own_cgroup(kControllers[i], own, sizeof(own));
    snprintf(parents[i], sizeof(parents[i]), "/sys/fs/cgroup/%s%s", kControllers[i], own);
    snprintf(dirs[i], sizeof(dirs[i]), "%s/cgroup-wrap-%d", parents[i], getpid());
    if (mkdir(dirs[i], 0755) != 0) die(dirs[i]);
  }
  write_file(dirs[0], "memory.limit_in_bytes", argv[1]);
  write_file(dirs[0], "memory.memsw.limit_in_bytes", argv[1]);
  write_file(dirs[0], "memory.oom_control", "0");
  write_file(dirs[1], "pids.max", argv[2]);
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    // The child joins itself (a self-move through "tasks" skips the RCU wait a move of
    // another process takes, as cordon's sandbox child does).
    for (int i = 0; i < kCount; ++i) write_file(dirs[i], "tasks", "0");
    execvp(argv[4], argv + 4);
    die(argv[4]);
  }
  int status;
  if (waitpid(child, &status, 0) != child) die("waitpid");
  volatile long long sink = read_number(dirs[0], "memory.max_usage_in_bytes") +
                            read_number(dirs[0], "memory.failcnt") +
                            read_number(dirs[1], "pids.current") +
                            read_number(dirs[3], "cpuacct.usage");
  (void)sink;
  // bwrap has exited, but its sandbox's pid 1 may still be leaving the cgroup: retry a busy
  // rmdir (cordon's removal waits the same way), at most about a second.
  for (int i = 0; i < kCount; ++i) {
    for (int tries = 0; rmdir(dirs[i]) != 0; ++tries) {
      if (errno != EBUSY || tries == 1000) die(dirs[i]);
      struct timespec pause = {0, 1000000};
      nanosleep(&pause, NULL);
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
