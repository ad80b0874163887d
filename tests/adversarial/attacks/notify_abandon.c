// Abandon seccomp notifications: 100 rounds of a child whose threads make refused syscalls
// while the child exit_group()s underneath them, so the launcher's answers target threads that
// are gone. The launcher must survive, keep answering, and keep recording: the last refused
// call (sethostname, from the main process) must still be refused and audited.
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "attack.h"
static void* spin(void* arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
  return NULL;
}
int main(void) {
  for (int round = 0; round < 100; round++) {
    pid_t p = fork();
    if (p == 0) {
      pthread_t t[8];
      for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, spin, NULL);
      syscall(SYS_chroot, "/");  // give the threads a moment in flight
      syscall(SYS_exit_group, 0);
    }
    if (p < 0) fatal("fork: %s", strerror(errno));
    waitpid(p, NULL, 0);
  }
  attempt("sethostname after 100 abandoned rounds", syscall(SYS_sethostname, "x", 1));
  return finish("launcher still answering after abandoned notifications");
}
