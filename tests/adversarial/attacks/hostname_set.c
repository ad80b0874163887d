// Change the hostname/domainname via syscalls and via /proc/sys (the UTS namespace should make
// both local, the seccomp filter should refuse the syscalls).
#include <fcntl.h>
#include <sys/syscall.h>

#include "attack.h"
int main(int argc, char** argv) {
  const char* name = argc > 1 ? argv[1] : "pwned-by-plugin";
  attempt("sethostname", syscall(SYS_sethostname, name, strlen(name)));
  attempt("setdomainname", syscall(SYS_setdomainname, name, strlen(name)));
  int fd = open("/proc/sys/kernel/hostname", O_WRONLY | O_CLOEXEC);
  attempt("open /proc/sys/kernel/hostname for write", fd);
  if (fd >= 0) attempt("write /proc/sys/kernel/hostname", write(fd, name, strlen(name)));
  return finish("hostname unchanged");
}
