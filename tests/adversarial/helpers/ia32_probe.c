// Tells the adversarial harness whether this kernel runs i386 system calls at all, outside any
// sandbox. Makes one harmless i386 getpid (nr 20) through int $0x80 from this 64-bit process:
//   exit 0, "ia32 yes"   the kernel has IA32 emulation: the i386 rows must reach seccomp
//   SIGSEGV              no IA32 emulation (CONFIG_IA32_EMULATION off or ia32_emulation=0):
//                        every i386 system call dies in the kernel before seccomp runs
#include <stdio.h>
#include <unistd.h>

int main(void) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory");
  if (ret != (long)getpid()) {
    printf("ia32 odd %ld\n", ret);
    return 2;
  }
  printf("ia32 yes\n");
  return 0;
}
