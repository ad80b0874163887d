// Test program for scripts/package-test.sh: calls socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE),
// which every shipped profile refuses (socket is allowed for AF_UNIX only), and prints the
// errno name it got ("opened" if the call succeeded). Under cordon the call is reported to the
// launcher (seccomp.violation) and answered with the profile's on_violation (EPERM).
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd >= 0) {
    puts("opened");
    return 0;
  }
  const char* name = strerrorname_np(errno);
  puts(name != NULL ? name : "unknown");
  return 1;
}
