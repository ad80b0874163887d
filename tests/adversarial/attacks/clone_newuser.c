// clone() with CLONE_NEW* flags, including with the flags hidden in the upper 32 bits of the
// register (the kernel only looks at the low 32 bits of clone's flags), and clone3.
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "attack.h"
static long raw_clone(unsigned long flags) {
  long r = syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, NULL, __WALL);
  return r;
}
int main(void) {
  attempt("clone(CLONE_NEWUSER|SIGCHLD)", raw_clone(CLONE_NEWUSER | SIGCHLD));
  attempt("clone(CLONE_NEWNS|SIGCHLD)", raw_clone(CLONE_NEWNS | SIGCHLD));
  attempt("clone(CLONE_NEWPID|CLONE_NEWNET|SIGCHLD)",
          raw_clone(CLONE_NEWPID | CLONE_NEWNET | SIGCHLD));
  attempt("clone(high bits | CLONE_NEWUSER)", raw_clone((1UL << 40) | CLONE_NEWUSER | SIGCHLD));
  struct {
    unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
  } args = {0};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  long r = syscall(SYS_clone3, &args, sizeof(args));
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, NULL, 0);
  attempt("clone3(CLONE_NEWUSER)", r);
  return finish("clone with namespace flags refused");
}
