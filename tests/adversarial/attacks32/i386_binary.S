# i386_binary: a complete 32-bit i386 program (no libc) exec'd inside the sandbox. Unlike
# i386_syscall (int 0x80 from a 64-bit process), every syscall of this process is i386, so a
# filter that only knows x86_64 would let all of them through. Its first syscall (getpid) must
# get it killed; if it ever reaches the write below, it reports the escape.
  .globl _start
  .text
_start:
  movl $20, %eax        # getpid (i386)
  int $0x80
  movl $4, %eax         # write(1, msg, len)
  movl $1, %ebx
  movl $msg, %ecx
  movl $len, %edx
  int $0x80
  movl $1, %eax         # exit(1): escaped
  movl $1, %ebx
  int $0x80
  .data
msg: .ascii "RESULT escaped a 32-bit process made i386 syscalls\n"
  len = . - msg
