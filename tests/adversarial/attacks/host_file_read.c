// Read host files: a secret the harness wrote (path in argv[1]), /etc/shadow, the launcher's
// environment, the host's root through /proc/1/root and /proc/self/root, and /proc/kcore.
#include <fcntl.h>

#include "attack.h"
static void try_read(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  char what[256];
  snprintf(what, sizeof what, "open %s", path);
  if (fd < 0) {
    note("%s: failed (%s)", what, strerrorname_np(errno));
    return;
  }
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n > 0) {
    escaped_because("read %zd bytes of %s", n, path);
  } else {
    note("%s opened but read %zd (%s)", path, n, n < 0 ? strerrorname_np(errno) : "empty");
  }
}
int main(int argc, char** argv) {
  if (argc < 2) fatal("usage: host_file_read SECRET_PATH");
  try_read(argv[1]);
  char p[512];
  snprintf(p, sizeof p, "/proc/1/root%s", argv[1]);
  try_read(p);
  snprintf(p, sizeof p, "/proc/self/root/../../..%s", argv[1]);
  try_read(p);
  try_read("/etc/shadow");
  try_read("/root/.bash_history");
  try_read("/proc/kcore");
  try_read("/proc/1/environ");
  try_read("/sys/firmware/dmi/tables/DMI");
  snprintf(p, sizeof p, "/../../../..%s", argv[1]);
  try_read(p);
  return finish("host files unreadable");
}
