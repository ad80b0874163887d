// Race the seccomp user-notification path (the TOCTOU of CVE-2019-... class): one thread calls
// a forbidden syscall with a pointer argument while others rewrite the pointed-to memory. A
// supervisor that inspects memory and answers CONTINUE would be fooled; cordon must answer
// EPERM whatever the memory says.
#include <pthread.h>
#include <sys/mount.h>
#include <sys/syscall.h>

#include "attack.h"
static char path[64] = "/tmp";
static volatile int stop = 0;
static void* flipper(void* arg) {
  (void)arg;
  while (!stop) {
    memcpy(path, "/tmp", 5);
    memcpy(path, "/usr", 5);
  }
  return NULL;
}
int main(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, flipper, NULL);
  long ok = 0;
  for (int i = 0; i < 500; i++) {
    if (syscall(SYS_mount, "none", path, "tmpfs", 0, NULL) == 0) ok++;
    if (syscall(SYS_chroot, path) == 0) ok++;
  }
  stop = 1;
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  if (ok) escaped_because("%ld racing calls succeeded", ok);
  note("1000 racing mount/chroot calls refused");
  return finish("notification path not raceable");
}
