// The remaining privileged syscalls: kernel log, swap, process accounting, disk quotas, I/O
// port access, vhangup, lookup_dcookie, and the syslog read that leaks kernel addresses.
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  char buf[256];
  attempt("syslog(READ_ALL)", syscall(SYS_syslog, 3, buf, sizeof buf));
  attempt("swapon(/tmp/swap)", syscall(SYS_swapon, "/tmp/swap", 0));
  attempt("swapoff(/tmp/swap)", syscall(SYS_swapoff, "/tmp/swap"));
  attempt("acct(/tmp/acct)", syscall(SYS_acct, "/tmp/acct"));
  attempt("quotactl(Q_SYNC)", syscall(SYS_quotactl, 0x800001, NULL, 0, NULL));
  attempt("iopl(3)", syscall(SYS_iopl, 3));
  attempt("ioperm(0x80)", syscall(SYS_ioperm, 0x80, 1, 1));
  attempt("vhangup()", syscall(SYS_vhangup));
  attempt("lookup_dcookie", syscall(SYS_lookup_dcookie, 0, buf, sizeof buf));
  attempt("nfsservctl", syscall(SYS_nfsservctl, 0, NULL, NULL));
  return finish("privileged syscalls refused");
}
