// Join another namespace: the sandbox init's (pid 1) namespaces are the same as ours, but a
// host namespace reachable through /proc (a leaked pid, /proc/1/ns of the host) would be an
// escape. setns must be refused whatever the fd.
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  const char* paths[] = {"/proc/1/ns/mnt", "/proc/1/ns/net", "/proc/1/ns/user",
                         "/proc/self/ns/pid"};
  for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      note("open %s: %s", paths[i], strerrorname_np(errno));
      continue;
    }
    char what[128];
    snprintf(what, sizeof what, "setns(%s)", paths[i]);
    attempt(what, syscall(SYS_setns, fd, 0));
    close(fd);
  }
  // A pidfd for our init: setns accepts pidfds since 5.8.
  int pidfd = (int)syscall(SYS_pidfd_open, 1, 0);
  if (pidfd >= 0)
    attempt("setns(pidfd of pid 1, CLONE_NEWNS)", syscall(SYS_setns, pidfd, CLONE_NEWNS));
  return finish("setns refused");
}
