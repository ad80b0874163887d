// Flood the seccomp notifier: 20000 forbidden syscalls from 4 threads as fast as possible.
// The launcher must stay responsive, keep the audit chain valid, and every call must fail;
// losing records is not allowed (the harness counts them).
#include <pthread.h>
#include <sys/syscall.h>

#include "attack.h"
static volatile long successes = 0;
static void* flood(void* arg) {
  (void)arg;
  for (int i = 0; i < 5000; i++) {
    if (syscall(SYS_sethostname, "x", 1) == 0) __sync_fetch_and_add(&successes, 1);
  }
  return NULL;
}
int main(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, flood, NULL);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  if (successes) escaped_because("%ld of 20000 sethostname calls succeeded", successes);
  note("20000 sethostname calls refused");
  return finish("flood refused");
}
