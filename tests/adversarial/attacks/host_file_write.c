// Write host files: the canary the harness made (argv[1]), the read-only binds (/usr, /bin,
// /etc/passwd), and create files in host directories.
#include <fcntl.h>
#include <sys/stat.h>

#include "attack.h"
static void try_write(const char* path, int flags) {
  int fd = open(path, flags | O_CLOEXEC, 0644);
  char what[256];
  snprintf(what, sizeof what, "open %s for write", path);
  if (attempt(what, fd)) {
    write(fd, "PWNED", 5);
    close(fd);
  }
}
int main(int argc, char** argv) {
  if (argc < 2) fatal("usage: host_file_write CANARY_PATH");
  try_write(argv[1], O_WRONLY | O_TRUNC);
  try_write(argv[1], O_WRONLY | O_CREAT);
  try_write("/etc/passwd", O_WRONLY | O_APPEND);
  try_write("/usr/bin/cordon-adv-dropped", O_WRONLY | O_CREAT | O_EXCL);
  try_write("/bin/sh", O_WRONLY);
  try_write("/lib/cordon-adv-dropped", O_WRONLY | O_CREAT | O_EXCL);
  attempt("mkdir /usr/cordon-adv", mkdir("/usr/cordon-adv", 0755));
  attempt("unlink /etc/passwd", unlink("/etc/passwd"));
  attempt("rename /usr/bin/env", rename("/usr/bin/env", "/usr/bin/env2"));
  attempt("chmod /usr/bin/env 04755", chmod("/usr/bin/env", 04755));
  attempt("link /etc/passwd -> /tmp/p (then write)", link("/etc/passwd", "/tmp/p"));
  attempt("utimensat /etc/passwd", utimensat(AT_FDCWD, "/etc/passwd", NULL, 0));
  return finish("host files unchanged");
}
