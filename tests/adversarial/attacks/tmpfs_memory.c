// Use the sandbox's tmpfs /tmp as uncharged memory: write 60 MiB of files under --memory 32M.
// tmpfs pages live in RAM; unless they are charged to the plugin's memory cgroup the memory
// quota would not cover them. Expected: the memory quota kills the writer.
#include <fcntl.h>

#include "attack.h"
int main(void) {
  static char buf[1 << 20];
  memset(buf, 'x', sizeof buf);
  int fd = open("/tmp/big", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fatal("open /tmp/big: %s", strerror(errno));
  int mib = 0;
  for (; mib < 60; mib++) {
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) break;
  }
  note("wrote %d MiB to tmpfs", mib);
  if (mib >= 60) escaped_because("60 MiB of tmpfs under a 32 MiB memory quota");
  return finish("tmpfs use is charged to the memory quota");
}
