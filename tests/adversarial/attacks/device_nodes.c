// Device nodes: raw memory, I/O ports, disks, kernel log, and making our own nodes with mknod
// (a writable /tmp plus mknod would give /dev/mem or the host disk).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "attack.h"
int main(void) {
  const char* devs[] = {"/dev/mem",   "/dev/kmem",         "/dev/port",      "/dev/sda",
                        "/dev/vda",   "/dev/nvme0n1",      "/dev/kmsg",      "/dev/console",
                        "/dev/tty0",  "/dev/fuse",         "/dev/kvm",       "/dev/net/tun",
                        "/dev/loop0", "/dev/loop-control", "/dev/dri/card0", "/dev/shm/x"};
  for (unsigned i = 0; i < sizeof devs / sizeof devs[0]; i++) {
    char what[96];
    snprintf(what, sizeof what, "open %s", devs[i]);
    attempt(what, open(devs[i], O_RDWR | O_CLOEXEC));
  }
  attempt("mknod /tmp/mem c 1 1", mknod("/tmp/mem", S_IFCHR | 0666, makedev(1, 1)));
  attempt("mknod /tmp/sda b 8 0", mknod("/tmp/sda", S_IFBLK | 0666, makedev(8, 0)));
  if (access("/tmp/mem", F_OK) == 0)
    attempt("open /tmp/mem", open("/tmp/mem", O_RDONLY | O_CLOEXEC));
  // The few nodes that exist must be the harmless ones.
  int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (fd < 0) note("/dev/null missing: %s", strerrorname_np(errno));
  return finish("no dangerous device reachable");
}
