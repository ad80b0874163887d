// Thread exhaustion (threads count against pids too), bounded at 2000 threads that each sleep
// 5 s, under --pids 16.
#include <pthread.h>
#include <time.h>

#include "attack.h"
static void* sleeper(void* arg) {
  (void)arg;
  struct timespec ts = {5, 0};
  nanosleep(&ts, NULL);
  return NULL;
}
int main(void) {
  int made = 0, err = 0;
  for (int i = 0; i < 2000; i++) {
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    err = pthread_create(&t, &a, sleeper, NULL);
    if (err) break;
    made++;
  }
  note("created %d threads (%s)", made, err ? strerrorname_np(err) : "bound");
  if (made >= 2000) escaped_because("2000 threads under --pids 16");
  printf("RESULT blocked thread count capped\n");
  fflush(stdout);
  _exit(0);
}
