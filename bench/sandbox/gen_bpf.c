/* Writes a seccomp BPF program for `bwrap --seccomp FD`: the system calls named on stdin (one
 * per line; the allowlist `cordon profile show minimal` prints) are allowed, everything else
 * fails with EPERM, foreign architectures are killed. This gives bwrap the same allowlist as
 * cordon's minimal profile, without cordon's argument rules and without user notification. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (ctx == NULL) return 1;
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0) return 1;
  if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0) return 1;
  char name[128];
  int count = 0;
  while (fgets(name, sizeof name, stdin) != NULL) {
    name[strcspn(name, "\r\n ")] = '\0';
    if (name[0] == '\0') continue;
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) {
      fprintf(stderr, "gen_bpf: unknown syscall '%s'\n", name);
      return 1;
    }
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) return 1;
    ++count;
  }
  if (seccomp_export_bpf(ctx, STDOUT_FILENO) != 0) return 1;
  fprintf(stderr, "gen_bpf: %d syscalls allowed\n", count);
  seccomp_release(ctx);
  return 0;
}
