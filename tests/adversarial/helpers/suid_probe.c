// Installed setuid root by the adversarial harness and bound read-only into the sandbox: prints
// the effective uid it ran with. euid=0 inside the sandbox would be a privilege escalation.
#include <stdio.h>
#include <unistd.h>
int main(void) {
  printf("euid=%d\n", (int)geteuid());
  return 0;
}
