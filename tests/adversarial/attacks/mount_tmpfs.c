// Mount a fresh tmpfs and a bind of / over /tmp: a mount is the first step of every
// mount-namespace escape (remount host paths writable, shadow binaries).
#include <sys/mount.h>

#include "attack.h"
int main(void) {
  attempt("mount tmpfs on /tmp", mount("none", "/tmp", "tmpfs", 0, NULL));
  attempt("bind / on /tmp", mount("/", "/tmp", NULL, MS_BIND | MS_REC, NULL));
  attempt("remount / rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
  attempt("remount /usr rw", mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL));
  attempt("umount2 /proc", umount2("/proc", MNT_DETACH));
  return finish("mount/umount refused");
}
