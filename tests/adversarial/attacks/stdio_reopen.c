// cordon run passes stdin/stdout/stderr through. When stdout is a host file (e.g.
// `cordon run prog >> job.log`), the plugin holds a host file description: it may append (by
// design), but it must not read the file back through /proc/self/fd/1, truncate what was there
// before, or change its mode. The harness makes stdout a root-owned 0600 file that already
// holds a secret line. Our reports go to stderr (a pipe) so truncation cannot erase them.
#include <fcntl.h>
#include <sys/stat.h>

#include "attack.h"
int main(void) {
  int host = dup(1);  // the host file description; reports go to stderr from here on
  dup2(2, 1);
  struct stat st;
  if (fstat(host, &st) != 0) fatal("fstat stdout");
  if (!S_ISREG(st.st_mode)) note("stdout is not a regular file (mode %o)", st.st_mode);
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", host);
  int fd = open(self, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[256] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0 && strstr(buf, "HOST-LOG-SECRET"))
      escaped_because("read the host file behind stdout");
    else
      note("reopened stdout read-only but read nothing secret (%zd)", n);
  } else {
    note("reopen /proc/self/fd/1 O_RDONLY: %s", strerrorname_np(errno));
  }
  attempt("reopen /proc/self/fd/1 O_RDWR", open(self, O_RDWR | O_CLOEXEC));
  attempt("fchmod(stdout, 0666)", fchmod(host, 0666));
  attempt("fchown(stdout, 1000, 1000)", fchown(host, 1000, 1000));
  // Truncating the host file through our write-only description: the harness checks whether
  // the secret line is still there afterwards.
  if (ftruncate(host, 0) == 0)
    note("ftruncate(stdout, 0) succeeded");
  else
    note("ftruncate(stdout, 0): %s", strerrorname_np(errno));
  return finish("host file behind stdout only appended to");
}
