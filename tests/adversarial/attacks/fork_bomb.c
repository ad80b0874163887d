// Fork bomb with an outer safety net: at most 2000 forks in total, every child sleeps at most
// 5 s and then exits. The pids quota (run with --pids 16) must stop it well before.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "attack.h"
int main(void) {
  int made = 0, failed = 0, first_errno = 0;
  for (int i = 0; i < 2000; i++) {
    pid_t p = fork();
    if (p == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      struct timespec ts = {5, 0};
      nanosleep(&ts, NULL);
      _exit(0);
    }
    if (p > 0)
      made++;
    else {
      if (!first_errno) first_errno = errno;
      failed++;
      if (failed > 50) break;
    }
  }
  note("forked %d processes, %d forks failed (%s)", made, failed,
       first_errno ? strerrorname_np(first_errno) : "-");
  if (made >= 2000 - 50) escaped_because("no process limit: %d processes", made);
  signal(SIGCHLD, SIG_DFL);
  kill(0, SIGKILL);  // also kills us; the harness checks no process is left
  return finish("process count capped");
}
