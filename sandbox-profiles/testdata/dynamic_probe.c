/* A dynamically linked C program for profile_programs_test: libc start-up, stdio, malloc, a
 * file in /tmp and time, the things a typical plugin does before anything else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  char* buf = malloc(1 << 20);
  if (buf == NULL) return 10;
  memset(buf, 'x', 1 << 20);
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 11;
  char path[] = "/tmp/cordon-probe-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 12;
  if (write(fd, buf, 4096) != 4096) return 13;
  close(fd);
  if (unlink(path) != 0) return 14;
  free(buf);
  printf("dynamic probe ok pid=%d\n", (int)getpid());
  return 0;
}
