// personality flags that weaken the process (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE) and prctl
// options outside the allowlist (PR_SET_MM rewrites the memory map description, PR_SET_PTRACER
// opens us to tracing, PR_SET_SECCOMP with a new filter).
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  attempt("personality(READ_IMPLIES_EXEC)", syscall(SYS_personality, READ_IMPLIES_EXEC));
  attempt("personality(ADDR_NO_RANDOMIZE)", syscall(SYS_personality, ADDR_NO_RANDOMIZE));
  attempt("personality(PER_LINUX32)", syscall(SYS_personality, PER_LINUX32));
  attempt("prctl(PR_SET_MM, START_CODE)", prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0x1000, 0, 0));
  attempt("prctl(PR_SET_PTRACER, ANY)", prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0));
  attempt("prctl(PR_SET_SPECULATION_CTRL)",
          prctl(PR_SET_SPECULATION_CTRL, PR_SPEC_STORE_BYPASS, PR_SPEC_ENABLE, 0, 0));
  attempt("prctl(PR_CAP_AMBIENT, RAISE, 21)",
          prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 21, 0, 0));
  return finish("weakening personality and prctl options refused");
}
