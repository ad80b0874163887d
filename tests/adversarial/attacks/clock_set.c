// Setting the clock is host-wide (CLOCK_REALTIME is not namespaced): breaks TLS, logs, cron.
#include <sys/syscall.h>
#include <sys/timex.h>
#include <time.h>

#include "attack.h"
int main(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec -= 86400 * 365;  // a year back
  attempt("clock_settime(REALTIME, -1y)", syscall(SYS_clock_settime, CLOCK_REALTIME, &ts));
  struct timeval tv = {ts.tv_sec, 0};
  attempt("settimeofday(-1y)", syscall(SYS_settimeofday, &tv, NULL));
  struct timex tx;
  memset(&tx, 0, sizeof tx);
  tx.modes = ADJ_OFFSET | ADJ_FREQUENCY;
  tx.freq = 500 << 16;
  attempt("adjtimex(freq)", syscall(SYS_adjtimex, &tx));
  attempt("clock_adjtime(REALTIME)", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
  return finish("clock setting refused");
}
