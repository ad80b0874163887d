// Forge audit records: our argv (set by the harness to JSON with newlines and quotes) and the
// syscall arguments we pass are written into the audit log; if a string were not escaped, a
// fake record (type "forged") would appear on its own line. Then trigger one violation whose
// path argument is again hostile.
#include <sys/syscall.h>

#include "attack.h"
int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  const char* evil = "x\"}\n{\"seq\":2,\"type\":\"forged\",\"hash\":\"00\"}\n";
  attempt("chroot(<json payload>)", syscall(SYS_chroot, evil));
  return finish("violations recorded; the harness checks the log for forged records");
}
