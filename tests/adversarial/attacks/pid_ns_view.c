// Information leaks that would point at host targets: host pids in /proc, the host's hostname,
// host mounts in /proc/self/mountinfo, host network interfaces.
#include <dirent.h>
#include <fcntl.h>
#include <sys/utsname.h>

#include "attack.h"
int main(int argc, char** argv) {
  long canary = argc > 1 ? strtol(argv[1], NULL, 0) : 0;
  DIR* d = opendir("/proc");
  if (!d) fatal("opendir /proc");
  struct dirent* e;
  int pids = 0;
  while ((e = readdir(d))) {
    long pid = atol(e->d_name);
    if (pid <= 0) continue;
    pids++;
    if (pid == canary) escaped_because("host canary pid %ld visible in /proc", pid);
  }
  closedir(d);
  note("%d pids visible in /proc", pids);
  if (pids > 8) escaped_because("%d pids visible: host pid namespace", pids);
  struct utsname u;
  uname(&u);
  note("nodename %s", u.nodename);
  if (argc > 2 && strcmp(u.nodename, argv[2]) == 0)
    escaped_because("host hostname visible: %s", u.nodename);
  int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  static char buf[65536];
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
  buf[n > 0 ? n : 0] = 0;
  if (strstr(buf, " /work") || strstr(buf, " /home ") || strstr(buf, " /root "))
    escaped_because("host mounts (/work,/home,/root) in mountinfo");
  fd = open("/proc/net/dev", O_RDONLY | O_CLOEXEC);
  n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
  buf[n > 0 ? n : 0] = 0;
  if (strstr(buf, "eth") || strstr(buf, "ens") || strstr(buf, "docker"))
    escaped_because("host interfaces visible");
  return finish("no host pids, hostname, mounts or interfaces visible");
}
