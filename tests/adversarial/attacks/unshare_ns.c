// Create new namespaces: a fresh user namespace gives back a full capability set inside it,
// which unlocks mount, network and more kernel attack surface.
#include <sched.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  attempt("unshare(CLONE_NEWUSER)", syscall(SYS_unshare, CLONE_NEWUSER));
  attempt("unshare(CLONE_NEWNS)", syscall(SYS_unshare, CLONE_NEWNS));
  attempt("unshare(CLONE_NEWNET)", syscall(SYS_unshare, CLONE_NEWNET));
  attempt("unshare(CLONE_NEWUTS|CLONE_NEWIPC)", syscall(SYS_unshare, CLONE_NEWUTS | CLONE_NEWIPC));
  attempt("unshare(CLONE_NEWTIME)", syscall(SYS_unshare, 0x80));
  return finish("unshare refused");
}
