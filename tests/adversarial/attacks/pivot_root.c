// pivot_root and the new mount API (open_tree/move_mount/fsopen): alternatives to mount(2)
// for reshaping the sandbox's tree.
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  attempt("pivot_root(/tmp,/tmp)", syscall(SYS_pivot_root, "/tmp", "/tmp"));
  attempt("open_tree(/, OPEN_TREE_CLONE)",
          syscall(SYS_open_tree, -100, "/", 1 /*CLONE*/ | 0x80000));
  attempt("fsopen(tmpfs)", syscall(SYS_fsopen, "tmpfs", 1));
  attempt("fspick(/)", syscall(SYS_fspick, -100, "/", 1));
  attempt("move_mount", syscall(SYS_move_mount, -100, "/proc", -100, "/tmp", 0));
  attempt("mount_setattr(/)", syscall(SYS_mount_setattr, -100, "/", 0, NULL, 0));
  return finish("pivot_root and new mount API refused");
}
