// Check that no capability survives in any set, no_new_privs is set and cannot be cleared,
// securebits are locked, and that the operations capabilities would unlock fail.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) != 0) fatal("capget: %s", strerror(errno));
  for (int i = 0; i < 2; i++) {
    if (d[i].effective || d[i].permitted || d[i].inheritable)
      escaped_because("capabilities present: eff %x prm %x inh %x", d[i].effective, d[i].permitted,
                      d[i].inheritable);
  }
  for (int cap = 0; cap <= 40; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
      escaped_because("capability %d in the bounding set", cap);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1)
      escaped_because("ambient capability %d", cap);
  }
  int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (nnp != 1) escaped_because("no_new_privs is %d", nnp);
  attempt("prctl(SET_NO_NEW_PRIVS, 0)",
          prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0
              ? 0
              : -1);
  int sb = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
  note("securebits 0x%x, no_new_privs %d", sb, nnp);
  // Operations that need capabilities.
  attempt("capset(all)", ({
            d[0].effective = d[0].permitted = ~0u;
            syscall(SYS_capset, &h, d);
          }));
  int fd = open("/tmp/x", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  close(fd);
  attempt("chown /tmp/x to 0:0", chown("/tmp/x", 0, 0));
  attempt("setuid(0)", syscall(SYS_setuid, 0));
  attempt("setgroups(0)", syscall(SYS_setgroups, 0, NULL));
  attempt("prctl(PR_SET_SECUREBITS, 0)", prctl(PR_SET_SECUREBITS, 0, 0, 0, 0));
  return finish("no capabilities, no_new_privs locked");
}
