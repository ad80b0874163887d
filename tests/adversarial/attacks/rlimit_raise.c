// Raise the hard resource limits the launcher set (open files, CPU, file size, core size,
// processes): needs CAP_SYS_RESOURCE in the initial namespace, which the plugin lacks.
#include <sys/resource.h>
#include <sys/syscall.h>

#include "attack.h"
static void try_raise(const char* name, int resource) {
  struct rlimit cur;
  if (getrlimit(resource, &cur) != 0) fatal("getrlimit %s", name);
  if (cur.rlim_max == RLIM_INFINITY) {
    note("%s: hard limit already unlimited", name);
    return;
  }
  struct rlimit more = {RLIM_INFINITY, RLIM_INFINITY};
  char what[96];
  snprintf(what, sizeof what, "prlimit(%s, hard %llu -> unlimited)", name,
           (unsigned long long)cur.rlim_max);
  attempt(what, syscall(SYS_prlimit64, 0, resource, &more, NULL));
}
int main(void) {
  try_raise("NOFILE", RLIMIT_NOFILE);
  try_raise("CPU", RLIMIT_CPU);
  try_raise("FSIZE", RLIMIT_FSIZE);
  try_raise("CORE", RLIMIT_CORE);
  try_raise("AS", RLIMIT_AS);
  try_raise("NPROC", RLIMIT_NPROC);
  // prlimit on pid 1 (the sandbox init) to loosen what its next children inherit.
  struct rlimit more = {RLIM_INFINITY, RLIM_INFINITY};
  attempt("prlimit(pid 1, NOFILE)", syscall(SYS_prlimit64, 1, RLIMIT_NOFILE, &more, NULL));
  return finish("hard limits cannot be raised");
}
