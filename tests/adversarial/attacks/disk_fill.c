// Disk exhaustion: fill /tmp (run with --tmp-size 1M) with at most 256 MiB, then a single big
// file (run with --file-size 1M gives SIGXFSZ). The host's disks and memory must be untouched.
#include <fcntl.h>
#include <signal.h>

#include "attack.h"
int main(void) {
  signal(SIGXFSZ, SIG_IGN);  // see EFBIG instead of dying, so we can report the total
  static char buf[1 << 16];
  memset(buf, 'A', sizeof buf);
  size_t total = 0;
  int files = 0;
  for (; files < 64 && total < (256u << 20); files++) {
    char p[64];
    snprintf(p, sizeof p, "/tmp/fill.%d", files);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      note("open %s: %s", p, strerrorname_np(errno));
      break;
    }
    ssize_t n = 1;
    size_t this_file = 0;
    while (this_file < (4u << 20) && (n = write(fd, buf, sizeof buf)) > 0)
      this_file += (size_t)n, total += (size_t)n;
    close(fd);
    if (n < 0) {
      note("write stopped after %zu KiB total: %s", total >> 10, strerrorname_np(errno));
      break;
    }
  }
  note("wrote %zu KiB in %d file(s)", total >> 10, files + (total > 0));
  if (total >= (256u << 20)) escaped_because("wrote 256 MiB under a 1 MiB tmpfs");
  return finish("disk use capped");
}
