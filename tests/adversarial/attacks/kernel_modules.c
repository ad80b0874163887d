// Load or remove kernel modules: full kernel compromise if it worked.
#include <fcntl.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  static const char module[64] = "\177ELF";
  attempt("init_module(fake)", syscall(SYS_init_module, module, sizeof module, ""));
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  attempt("finit_module(/proc/self/exe)", syscall(SYS_finit_module, fd, "", 0));
  attempt("delete_module(loop)", syscall(SYS_delete_module, "loop", O_NONBLOCK));
  attempt("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  attempt("kexec_file_load", syscall(SYS_kexec_file_load, fd, fd, 0, "", 0));
  return finish("module and kexec syscalls refused");
}
