// Stop ourselves with SIGSTOP under --wall-time 1s: a stopped process uses no CPU, so only a
// wall-clock watchdog that can kill stopped processes ends it. Bounded: SIGCONT never comes,
// but the harness's outer timeout is the last net.
#include <signal.h>

#include "attack.h"
int main(void) {
  note("stopping");
  raise(SIGSTOP);
  escaped_because("resumed after SIGSTOP and was not killed by the wall-time quota");
  return finish("wall time enforced on a stopped process");
}
