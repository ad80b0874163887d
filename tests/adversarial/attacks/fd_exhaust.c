// Exhaust file descriptors (bounded at 100000) under --open-files 64: the kernel-wide file
// table is shared with the host.
#include <fcntl.h>

#include "attack.h"
int main(void) {
  int n = 0, err = 0;
  for (; n < 100000; n++) {
    if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) {
      err = errno;
      break;
    }
  }
  note("opened %d descriptors before %s", n, err ? strerrorname_np(err) : "the bound");
  if (n >= 100000) escaped_because("opened 100000 descriptors");
  return finish("descriptor count capped");
}
