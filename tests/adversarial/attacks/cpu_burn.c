// CPU exhaustion: spin (bounded at 30 s of wall time) under --cpu-time 1. The CPU quota must
// stop it (SIGXCPU then SIGKILL) well before the bound.
#include <signal.h>
#include <time.h>

#include "attack.h"
int main(void) {
  signal(SIGXCPU, SIG_IGN);  // ignoring the soft signal must not help
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  volatile unsigned long x = 0;
  do {
    for (int i = 0; i < 10000000; i++) x += (unsigned long)i;
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while (now.tv_sec - start.tv_sec < 30);
  escaped_because("spun for 30 s of wall time without being stopped");
  return finish("cpu capped");
}
