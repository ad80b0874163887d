// Test wrapper for scripts/package-test.sh: installs the seccomp filter systemd installs for
// RestrictAddressFamilies= when AF_NETLINK is not in the list (socket(AF_NETLINK, ...) fails
// with EAFNOSUPPORT, everything else is allowed), then executes its arguments. It shows why
// cordon.service sets no seccomp-based directive: the filter is inherited by cordon and every
// sandbox, and its SECCOMP_RET_ERRNO outranks the SECCOMP_RET_USER_NOTIF of cordon's own
// filter, so cordon never sees the call and records no seccomp.violation.
//   errno-filter PROGRAM [ARG...]        (as root, or with no_new_privs)
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: errno-filter PROGRAM [ARG...]\n");
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == NULL) {
    fprintf(stderr, "errno-filter: seccomp_init failed\n");
    return 2;
  }
  // The family is an int: compared on the 32 bits the kernel reads.
  int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                            SCMP_A0_32(SCMP_CMP_EQ, AF_NETLINK));
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    fprintf(stderr, "errno-filter: installing the filter failed: %s\n", strerror(-rc));
    return 2;
  }
  execv(argv[1], argv + 1);
  fprintf(stderr, "errno-filter: exec %s: %s\n", argv[1], strerror(errno));
  return 127;
}
