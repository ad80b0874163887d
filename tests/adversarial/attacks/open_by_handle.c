// The "shocker" escape: open_by_handle_at with a brute-forced file handle opens files outside
// the mount namespace (e.g. the host's /etc/shadow) relative to any fd on the same filesystem.
#include <fcntl.h>
#include <sys/syscall.h>

#include "attack.h"
struct handle {
  unsigned int handle_bytes;
  int handle_type;
  unsigned char f_handle[8];
};
int main(void) {
  struct handle h = {8, 1, {2, 0, 0, 0, 0, 0, 0, 0}};  // ext4/xfs root inode 2, generation 0
  int mount_id = 0;
  attempt("name_to_handle_at(/usr)",
          syscall(SYS_name_to_handle_at, -100, "/usr", &h, &mount_id, 0));
  int dirfd = open("/usr", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) fatal("open /usr: %s", strerror(errno));
  h.handle_bytes = 8;
  h.handle_type = 1;
  attempt("open_by_handle_at(/usr, inode 2)", syscall(SYS_open_by_handle_at, dirfd, &h, O_RDONLY));
  return finish("handle syscalls refused");
}
