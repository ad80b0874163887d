/* Runs inside a test sandbox (static, no libc start-up beyond the basics). With argument
 * "wait": reads stdin to EOF and exits 7 (the test looks at the process meanwhile).
 * Otherwise: exits 7 when no fd
 * above stderr is open (the seccomp listener must never reach the program) and a denied
 * syscall (ptrace) came back with the errno the test answers through the listener (EXDEV),
 * which proves the launcher holds the real listener. Any other outcome exits 1 or 2. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "wait") == 0) {
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 7;
  }
  for (int fd = 3; fd < 256; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) return 1;
  }
  errno = 0;
  if (syscall(SYS_ptrace, 0, 0, 0, 0) != -1 || errno != EXDEV) return 2;
  return 7;
}
