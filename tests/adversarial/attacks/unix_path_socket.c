// Connect to a host pathname unix socket (path in argv[1], made by the harness) and to the
// usual daemon sockets (docker, containerd, dbus, systemd).
#include <sys/socket.h>
#include <sys/un.h>

#include "attack.h"
static void try_path(const char* path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fatal("socket: %s", strerror(errno));
  char what[160];
  snprintf(what, sizeof what, "connect(%s)", path);
  attempt(what, connect(fd, (struct sockaddr*)&addr, sizeof addr));
  close(fd);
}
int main(int argc, char** argv) {
  if (argc < 2) fatal("usage: unix_path_socket PATH");
  try_path(argv[1]);
  try_path("/run/docker.sock");
  try_path("/var/run/docker.sock");
  try_path("/run/containerd/containerd.sock");
  try_path("/run/dbus/system_bus_socket");
  try_path("/run/systemd/private");
  return finish("host pathname sockets unreachable");
}
