/* Calls one system call N times inside the sandbox and prints the mean cost per call in
 * nanoseconds, measured with CLOCK_MONOTONIC (vDSO, so timing adds no system calls).
 *   syscall_loop allowed N   getppid(): in group "base", answered by the kernel alone
 *   syscall_loop denied N    setuid(own uid): in no group of the bench profiles, so every call
 *                            is a seccomp user notification -> launcher -> audit -> EPERM
 * setuid to the caller's own uid would be harmless even if a profile allowed it; the program
 * exits 3 if a call does not fail with EPERM (the round trip was not measured). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long NowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[1], "allowed") != 0 && strcmp(argv[1], "denied") != 0)) {
    fprintf(stderr, "usage: syscall_loop allowed|denied N\n");
    return 2;
  }
  const int denied = strcmp(argv[1], "denied") == 0;
  const long n = strtol(argv[2], NULL, 10);
  if (n <= 0 || n > 100000000) {
    fprintf(stderr, "syscall_loop: N must be 1..100000000\n");
    return 2;
  }
  const long uid = syscall(SYS_getuid);
  const long long start = NowNs();
  for (long i = 0; i < n; ++i) {
    if (denied) {
      if (syscall(SYS_setuid, uid) != -1 || errno != EPERM) {
        fprintf(stderr, "syscall_loop: setuid was not denied with EPERM (call %ld)\n", i);
        return 3;
      }
    } else {
      (void)syscall(SYS_getppid);
    }
  }
  const long long elapsed = NowNs() - start;
  printf("%s %ld calls %lld ns total %.1f ns/call\n", argv[1], n, elapsed, (double)elapsed / n);
  return 0;
}
