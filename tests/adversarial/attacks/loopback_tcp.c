// Reach a host TCP listener on 127.0.0.1:PORT (argv[1]) and ::1, plus UDP and raw/netlink/packet
// sockets. The profile allows only AF_UNIX sockets; the net namespace has only a down lo.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "attack.h"
int main(int argc, char** argv) {
  long port = arg_long(argc, argv, 1);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  attempt("socket(AF_INET, STREAM)", fd);
  if (fd >= 0) attempt("connect(127.0.0.1)", connect(fd, (struct sockaddr*)&a, sizeof a));
  struct sockaddr_in6 a6;
  memset(&a6, 0, sizeof a6);
  a6.sin6_family = AF_INET6;
  a6.sin6_port = htons((unsigned short)port);
  a6.sin6_addr = in6addr_loopback;
  int fd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  attempt("socket(AF_INET6, STREAM)", fd6);
  if (fd6 >= 0) attempt("connect([::1])", connect(fd6, (struct sockaddr*)&a6, sizeof a6));
  attempt("socket(AF_INET, DGRAM)", socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  attempt("socket(AF_NETLINK, ROUTE)", socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0));
  attempt("socket(AF_PACKET, RAW)", socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  attempt("socket(AF_INET, RAW, ICMP)", socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, 1));
  attempt("socket(AF_VSOCK)", socket(40, SOCK_STREAM | SOCK_CLOEXEC, 0));
  // Domain with high bits set: the kernel takes an int, the rule must compare 32 bits.
  attempt("socket(AF_INET|1<<32) (raw)", syscall(41, (1L << 32) | AF_INET, SOCK_STREAM, 0));
  return finish("no IP, netlink, packet or vsock socket");
}
