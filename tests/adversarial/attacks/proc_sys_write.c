// Writes to /proc/sys and the classic procfs/sysfs escape knobs: core_pattern (runs a host
// program as root on crash), sysrq-trigger, drop_caches, uevent_helper, cgroup release_agent,
// modprobe path, and our own uid_map/setgroups. Opening one's own /proc/self files for writing
// is allowed by the kernel; only a write that takes effect counts.
#include <fcntl.h>

#include "attack.h"
static void try_write(const char* path, const char* data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    note("open %s for write: failed (%s)", path, strerrorname_np(errno));
    return;
  }
  char what[160];
  snprintf(what, sizeof what, "write %s (opened)", path);
  attempt(what, write(fd, data, strlen(data)));
  close(fd);
}
int main(void) {
  try_write("/proc/sys/kernel/core_pattern", "|/tmp/pwn");
  try_write("/proc/sys/kernel/modprobe", "/tmp/pwn");
  try_write("/proc/sys/vm/drop_caches", "3");
  try_write("/proc/sysrq-trigger", "h");
  try_write("/proc/sys/kernel/hostname", "pwned");
  try_write("/sys/kernel/uevent_helper", "/tmp/pwn");
  try_write("/sys/fs/cgroup/memory/release_agent", "/tmp/pwn");
  try_write("/sys/fs/cgroup/cgroup.procs", "1");
  try_write("/proc/self/uid_map", "0 0 1");
  try_write("/proc/self/setgroups", "allow");
  try_write("/proc/self/attr/current", "unconfined");
  try_write("/proc/1/oom_score_adj", "-1000");
  return finish("procfs/sysfs knobs not writable");
}
