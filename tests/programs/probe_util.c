#include "probe_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void probe_init(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

const char* probe_errno_name(int error_number) {
  if (error_number == 0) return "0";
  const char* name = strerrorname_np(error_number);
  return name != NULL ? name : "EUNKNOWN";
}

void probe_result(const char* check, long ret, int saved_errno) {
  printf("%s ret=%ld errno=%s\n", check, ret, ret < 0 ? probe_errno_name(saved_errno) : "0");
}

long probe_read_file(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t done = 0;
  while (done + 1 < size) {
    ssize_t n = read(fd, buf + done, size - 1 - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += (size_t)n;
  }
  buf[done] = '\0';
  close(fd);
  return (long)done;
}
