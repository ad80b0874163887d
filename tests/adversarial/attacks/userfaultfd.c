// userfaultfd lets a process stall the kernel mid-copy, the standard way to widen race windows
// in kernel exploits; also reachable through /dev/userfaultfd.
#include <fcntl.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  attempt("userfaultfd(O_CLOEXEC)", syscall(SYS_userfaultfd, O_CLOEXEC));
  attempt("userfaultfd(UFFD_USER_MODE_ONLY)", syscall(SYS_userfaultfd, O_CLOEXEC | 1));
  attempt("open /dev/userfaultfd", open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
  return finish("userfaultfd refused");
}
