// perf_event_open: kernel profiling exposes host-wide events and has had many exploitable bugs.
#include <linux/perf_event.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attempt("perf_event_open(self)", syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  attempt("perf_event_open(all pids, cpu 0)", syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0));
  return finish("perf_event_open refused");
}
