// Hijack the sandbox's pid 1: if the init is not under the same seccomp filter, or is
// ptrace-able through /proc/1/mem, rewriting its memory would run code outside the filter.
#include <fcntl.h>

#include "attack.h"
int main(void) {
  char buf[4096];
  int fd = open("/proc/1/status", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char* s = strstr(buf, "Seccomp:");
    char* nnp = strstr(buf, "NoNewPrivs:");
    if (s) note("init %.11s %.14s", s, nnp ? nnp : "");
  } else {
    note("open /proc/1/status: %s", strerrorname_np(errno));
  }
  attempt("open /proc/1/mem O_RDWR", open("/proc/1/mem", O_RDWR | O_CLOEXEC));
  attempt("open /proc/1/mem O_RDONLY", open("/proc/1/mem", O_RDONLY | O_CLOEXEC));
  int m = open("/proc/1/maps", O_RDONLY | O_CLOEXEC);
  if (m >= 0 && read(m, buf, 64) > 0)
    escaped_because("read /proc/1/maps (init address space visible)");
  attempt("open /proc/1/fd/0", open("/proc/1/fd/0", O_RDONLY | O_CLOEXEC));
  attempt("open /proc/1/cwd", open("/proc/1/cwd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return finish("sandbox init not hijackable");
}
