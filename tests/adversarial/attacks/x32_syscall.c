// x32 ABI: x86_64 syscall numbers with bit 30 set. A filter that checks only the low bits of
// the number would treat x32 mount as allowed-looking numbers. Should be killed.
#include "attack.h"
static long x32(long nr, long a1, long a2, long a3) {
  long ret;
  register long r10 __asm__("r10") = 0;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr | 0x40000000L), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
}
int main(void) {
  note("about to call x32 getpid (0x40000000|39)");
  long r = x32(39, 0, 0, 0);
  if (r > 0) escaped_because("x32 getpid returned %ld: x32 syscalls reach the kernel", r);
  note("x32 syscall returned %ld", r);
  return finish("x32 syscalls returned errors");
}
