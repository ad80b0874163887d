// SysV IPC against a host shared-memory segment the harness created (key and id in argv):
// attach by key, attach by id, and the message queue / semaphore families.
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>

#include "attack.h"
int main(int argc, char** argv) {
  long key = arg_long(argc, argv, 1);
  long id = arg_long(argc, argv, 2);
  attempt("shmget(host key)", syscall(SYS_shmget, key, 0, 0));
  long p = syscall(SYS_shmat, id, NULL, 0);
  if (p != -1) {
    escaped_because("shmat(host id) attached at %lx", p);
    ((volatile char*)p)[0] = 'X';
  } else {
    note("shmat(host id): failed (%s)", strerrorname_np(errno));
  }
  attempt("shmctl(host id, IPC_RMID)", syscall(SYS_shmctl, id, IPC_RMID, NULL));
  attempt("shmget(IPC_PRIVATE, create)", syscall(SYS_shmget, IPC_PRIVATE, 4096, IPC_CREAT | 0600));
  attempt("msgget(host key)", syscall(SYS_msgget, key, 0));
  attempt("semget(host key)", syscall(SYS_semget, key, 0, 0));
  return finish("SysV IPC refused / host segment unreachable");
}
