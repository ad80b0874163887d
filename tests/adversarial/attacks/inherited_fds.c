// Look for file descriptors leaked from the launcher or the harness (the harness passes an
// open host file as fd 5 and a host socket as fd 7 to cordon): any fd beyond 0,1,2 pointing at
// a host object is an escape hatch (fchdir/openat out of the mount tree, a socket to the host).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "attack.h"
int main(void) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) fatal("opendir /proc/self/fd: %s", strerror(errno));
  int self = dirfd(d);
  struct dirent* e;
  int extra = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd <= 2 || fd == self) continue;
    char link[256] = {0}, p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    readlink(p, link, sizeof link - 1);
    escaped_because("inherited fd %d -> %s", fd, link);
    extra++;
    // Demonstrate the hatch: a directory fd lets us walk the host tree.
    int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (up >= 0) note("openat(fd %d, \"..\") opened a directory outside the sandbox", fd);
  }
  closedir(d);
  // Also probe high numbers directly in case /proc lies.
  for (int fd = 3; fd < 1024; fd++) {
    struct stat st;
    if (fstat(fd, &st) == 0 && fd != self) {
      extra++;
      escaped_because("fd %d open (mode %o)", fd, st.st_mode);
    }
  }
  note("%d descriptors beyond stdio", extra);
  return finish("only stdin, stdout, stderr inherited");
}
