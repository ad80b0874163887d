// setuid(0)/setresuid and exec of a setuid-root binary (argv[1], a copy the harness made
// setuid root and bound read-only into the sandbox) and of the host's own setuid binaries.
// no_new_privs, nosuid mounts and the user namespace must all keep euid != 0.
#include <sys/syscall.h>
#include <sys/wait.h>

#include "attack.h"
static void run_suid(const char* path) {
  if (access(path, X_OK) != 0) {
    note("%s: %s", path, strerrorname_np(errno));
    return;
  }
  int pipefd[2];
  if (pipe(pipefd) != 0) fatal("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    execl(path, path, (char*)NULL);
    _exit(127);
  }
  close(pipefd[1]);
  char buf[64] = {0};
  ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
  close(pipefd[0]);
  waitpid(pid, NULL, 0);
  if (n > 0 && strncmp(buf, "euid=0", 6) == 0)
    escaped_because("%s ran with %s", path, buf);
  else
    note("%s printed: %s", path, n > 0 ? buf : "(nothing)");
}
int main(int argc, char** argv) {
  attempt("setuid(0)", syscall(SYS_setuid, 0));
  attempt("setresuid(0,0,0)", syscall(SYS_setresuid, 0, 0, 0));
  attempt("setgid(0)", syscall(SYS_setgid, 0));
  attempt("setfsuid(0)", syscall(SYS_setfsuid, 0) == 0 && syscall(SYS_setfsuid, -1) == 0 ? 0 : -1);
  if (argc > 1) run_suid(argv[1]);
  // The host's setuid binaries are visible read-only; exec one and check it cannot gain root.
  const char* su = "/usr/bin/su";
  if (access(su, X_OK) == 0) {
    pid_t pid = fork();
    if (pid == 0) {
      execl(su, su, "-c", "id -u > /tmp/su-ran", (char*)NULL);
      _exit(127);
    }
    waitpid(pid, NULL, 0);
    if (access("/tmp/su-ran", F_OK) == 0) escaped_because("su ran a command");
  }
  if (geteuid() == 0) escaped_because("euid is 0");
  return finish("no way to euid 0");
}
