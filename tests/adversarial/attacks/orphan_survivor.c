// Outlive the sandbox: double-fork a daemon that calls setsid() and ignores SIGHUP/SIGTERM,
// then let the main program exit at once. When `cordon run` returns, no process of the plugin
// may be left running on the host (the daemon sleeps at most 20 s: the outer bound).
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "attack.h"
int main(void) {
  pid_t p = fork();
  if (p == 0) {
    setsid();
    if (fork() == 0) {
      signal(SIGHUP, SIG_IGN);
      signal(SIGTERM, SIG_IGN);
      signal(SIGINT, SIG_IGN);
      close(0);
      close(1);
      close(2);
      struct timespec ts = {20, 0};
      nanosleep(&ts, NULL);
      _exit(0);
    }
    _exit(0);
  }
  waitpid(p, NULL, 0);
  note("daemon forked; main program exits now");
  return finish("the harness checks that no process of the sandbox survives");
}
