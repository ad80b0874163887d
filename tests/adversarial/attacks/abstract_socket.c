// Connect to a host abstract-namespace unix socket (name in argv[1], without the leading NUL).
// Abstract sockets belong to the network namespace: X11, dbus and many daemons listen there.
#include <sys/socket.h>
#include <sys/un.h>

#include "attack.h"
int main(int argc, char** argv) {
  if (argc < 2) fatal("usage: abstract_socket NAME");
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t n = strlen(argv[1]);
  if (n + 1 > sizeof addr.sun_path) fatal("name too long");
  memcpy(addr.sun_path + 1, argv[1], n);
  int types[2] = {SOCK_STREAM, SOCK_SEQPACKET};
  for (int i = 0; i < 2; i++) {
    int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
    if (fd < 0) fatal("socket(AF_UNIX): %s", strerror(errno));
    attempt(i == 0 ? "connect(abstract, STREAM)" : "connect(abstract, SEQPACKET)",
            connect(fd, (struct sockaddr*)&addr,
                    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)));
    close(fd);
  }
  // Well-known abstract names on desktops and container hosts.
  const char* known[] = {"/tmp/.X11-unix/X0", "/tmp/dbus-cordon", "containerd-shim"};
  for (int i = 0; i < 3; i++) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(addr.sun_path, 0, sizeof addr.sun_path);
    memcpy(addr.sun_path + 1, known[i], strlen(known[i]));
    if (connect(fd, (struct sockaddr*)&addr,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(known[i]))) == 0)
      escaped_because("connected to abstract @%s", known[i]);
    close(fd);
  }
  return finish("abstract sockets of the host unreachable");
}
