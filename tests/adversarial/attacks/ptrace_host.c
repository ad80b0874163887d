// ptrace and process_vm_* toward a host process (the harness's canary, pid in argv[1]) and
// toward our own sandbox init: reading or writing another process's memory is the end of
// isolation.
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "attack.h"
int main(int argc, char** argv) {
  long canary = arg_long(argc, argv, 1);
  attempt("ptrace(ATTACH, host canary)", syscall(SYS_ptrace, PTRACE_ATTACH, canary, 0, 0));
  attempt("ptrace(SEIZE, host canary)", syscall(SYS_ptrace, PTRACE_SEIZE, canary, 0, 0));
  attempt("ptrace(ATTACH, sandbox init)", syscall(SYS_ptrace, PTRACE_ATTACH, 1, 0, 0));
  char buf[16];
  struct iovec local = {buf, sizeof buf}, remote = {(void*)0x400000, sizeof buf};
  attempt("process_vm_readv(host canary)",
          syscall(SYS_process_vm_readv, canary, &local, 1, &remote, 1, 0));
  attempt("process_vm_writev(sandbox init)",
          syscall(SYS_process_vm_writev, 1, &local, 1, &remote, 1, 0));
  attempt("ptrace(TRACEME)", syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0));
  return finish("ptrace and process_vm refused");
}
