// Audit-log amplification: each refused syscall costs the plugin a microsecond and the host a
// durable, hash-chained audit record. 10000 identical refused calls (bounded) must not grow the
// host's log without limit: the harness allows 2 MiB for this run, enough for every record up
// to a rate limit plus summary records that count the rest.
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  long ok = 0;
  for (int i = 0; i < 10000; i++) {
    if (syscall(SYS_sethostname, "x", 1) == 0) ok++;
  }
  if (ok) escaped_because("%ld sethostname calls succeeded", ok);
  note("10000 sethostname calls refused");
  return finish("refused; the harness measures the audit log");
}
