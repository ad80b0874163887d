// Fileless exec: copy our own image into a memfd and execveat() it (AT_EMPTY_PATH), as
// droppers do to run payloads that never touch disk. exec is allowed in the default profile,
// so the exec itself succeeding is by design. What must hold is that the new image is exactly
// as confined: same seccomp filter, no_new_privs, no capabilities, and a forbidden syscall
// after the exec is still refused and audited. argv[1] == "stage2" marks the exec'd image.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "attack.h"
static int stage2(void) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
  buf[n > 0 ? n : 0] = 0;
  char* s = strstr(buf, "Seccomp:\t");
  char* nnp = strstr(buf, "NoNewPrivs:\t");
  char* capeff = strstr(buf, "CapEff:\t");
  if (!s || s[9] != '2') escaped_because("memfd image runs without the seccomp filter");
  if (!nnp || nnp[12] != '1') escaped_because("memfd image lost no_new_privs");
  if (!capeff || strncmp(capeff + 8, "0000000000000000", 16) != 0)
    escaped_because("memfd image has capabilities");
  note("stage2 running from memfd: Seccomp %c NoNewPrivs %c", s ? s[9] : '?', nnp ? nnp[12] : '?');
  attempt("stage2 mount(tmpfs)", mount("none", "/tmp", "tmpfs", 0, NULL));
  return finish("fileless exec allowed by design; the exec'd image stays confined");
}
int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "stage2") == 0) return stage2();
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) fatal("open /proc/self/exe: %s", strerror(errno));
  struct stat st;
  fstat(self, &st);
  int mfd = (int)syscall(SYS_memfd_create, "cordon-adv-payload", 0);
  if (mfd < 0) {
    note("memfd_create: %s", strerrorname_np(errno));
    return finish("memfd_create refused");
  }
  off_t off = 0;
  if (sendfile(mfd, self, &off, (size_t)st.st_size) != st.st_size)
    fatal("copy to memfd: %s", strerror(errno));
  char* args[] = {"payload", "stage2", NULL};
  char* envp[] = {NULL};
  syscall(SYS_execveat, mfd, "", args, envp, AT_EMPTY_PATH);
  note("execveat(memfd): %s", strerrorname_np(errno));
  return finish("fileless exec refused");
}
