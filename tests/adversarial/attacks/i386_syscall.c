// Make a syscall through the i386 entry (int 0x80) from a 64-bit process. Filters written only
// for x86_64 numbers miss it: i386 numbers differ (e.g. 21 is mount on i386, access on x86_64).
// The profile kills foreign-architecture syscalls, so this process should die of SIGSYS.
#include "attack.h"
int main(void) {
  long ret;
  note("about to call i386 mount (nr 21) via int 0x80");
  // i386 mount(NULL, NULL, NULL, 0, NULL): harmless if it got through, but it must not.
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(21), "b"(0), "c"(0), "d"(0), "S"(0), "D"(0)
                   : "memory");
  note("i386 syscall returned %ld", ret);
  // i386 getuid32 (199) would succeed if the arch were not refused.
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(199) : "memory");
  if (ret >= 0)
    escaped_because("i386 getuid32 returned %ld: foreign-arch syscalls reach the kernel", ret);
  return finish("i386 syscalls returned errors");
}
