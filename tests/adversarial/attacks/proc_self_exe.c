// Overwrite the host binary we were started from through /proc/self/exe (CVE-2019-5736 in
// runc): open it for writing, reopen the fd via /proc/self/fd, truncate, chmod.
#include <fcntl.h>
#include <sys/stat.h>

#include "attack.h"
int main(void) {
  int fd = open("/proc/self/exe", O_WRONLY | O_CLOEXEC);
  attempt("open /proc/self/exe O_WRONLY", fd);
  if (fd >= 0) attempt("write /proc/self/exe", write(fd, "PWN", 3));
  int ro = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (ro >= 0) {
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", ro);
    attempt("reopen exe fd O_RDWR via /proc/self/fd", open(p, O_RDWR | O_CLOEXEC));
    attempt("fchmod exe 04777", fchmod(ro, 04777));
  }
  attempt("truncate /proc/self/exe", truncate("/proc/self/exe", 0));
  attempt("chmod /proc/self/exe 04777", chmod("/proc/self/exe", 04777));
  // Our init (pid 1) runs the launcher-side init image: try it too.
  attempt("open /proc/1/exe O_WRONLY", open("/proc/1/exe", O_WRONLY | O_CLOEXEC));
  return finish("host binary not writable");
}
