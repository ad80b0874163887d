/* A statically linked program for profile_programs_test under the minimal profile: prints, uses
 * /tmp-free memory only, and shows that fork() is refused (no "process" group). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
  char* buf = malloc(1 << 16);
  if (buf == NULL) return 10;
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid > 0) return 11; /* fork must not work under minimal */
  printf("static probe ok, fork refused (errno %d)\n", errno);
  free(buf);
  return 0;
}
