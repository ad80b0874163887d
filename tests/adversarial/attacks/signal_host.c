// Signal a host process: the harness's canary (pid in argv[1]) and whatever pid 1 is. Also
// kill(-1) (every process we may signal) and pidfd_open/pidfd_send_signal on the canary.
#include <signal.h>
#include <sys/syscall.h>

#include "attack.h"
int main(int argc, char** argv) {
  long canary = arg_long(argc, argv, 1);
  attempt("kill(host canary, SIGKILL)", kill((pid_t)canary, SIGKILL));
  attempt("kill(host canary, 0) (probe)", kill((pid_t)canary, 0));
  long pidfd = syscall(SYS_pidfd_open, canary, 0);
  attempt("pidfd_open(host canary)", pidfd);
  if (pidfd >= 0)
    attempt("pidfd_send_signal(canary, SIGKILL)",
            syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0));
  attempt("tgkill(canary, canary, SIGKILL)", syscall(SYS_tgkill, canary, canary, SIGKILL));
  // pid 1 is the sandbox's init; SIGKILL from inside a pid namespace is ignored by its init.
  if (kill(1, SIGKILL) == 0) note("kill(1, SIGKILL) accepted (sandbox init ignores it)");
  // kill(-1) reaches every process in our pid namespace we may signal: only ourselves and init.
  signal(SIGTERM, SIG_IGN);
  if (kill(-1, SIGTERM) == 0)
    note("kill(-1, SIGTERM) accepted: reached only the sandbox's own processes");
  return finish("host canary not signalable from the sandbox");
}
