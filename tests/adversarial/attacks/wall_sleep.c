// Outlive the wall-time quota: block in sleep (no CPU used, so only a wall-clock watchdog
// catches it) for at most 30 s, under --wall-time 1s.
#include <time.h>

#include "attack.h"
int main(void) {
  struct timespec ts = {30, 0};
  while (nanosleep(&ts, &ts) != 0) {
  }
  escaped_because("slept 30 s under a 1 s wall-time quota");
  return finish("wall time capped");
}
