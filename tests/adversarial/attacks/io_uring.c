// io_uring performs I/O from kernel workers that bypass seccomp checks on the individual
// operations (openat, connect...), and has a large CVE history.
#include <linux/io_uring.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  long fd = syscall(SYS_io_uring_setup, 8, &p);
  attempt("io_uring_setup(8)", fd);
  attempt("io_uring_enter(-1)", syscall(SYS_io_uring_enter, fd >= 0 ? fd : 0, 0, 0, 0, NULL, 0));
  attempt("io_uring_register(-1)", syscall(SYS_io_uring_register, fd >= 0 ? fd : 0, 0, NULL, 0));
  return finish("io_uring refused");
}
