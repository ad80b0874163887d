// Kernel keyrings are not namespaced: keys in the user's or session keyring are shared with the
// host, and keyctl has a long CVE history.
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  attempt("add_key(user, cordon-adv)",
          syscall(SYS_add_key, "user", "cordon-adv", "x", 1, -3 /*SESSION*/));
  attempt("keyctl(GET_KEYRING_ID, session)", syscall(SYS_keyctl, 0, -3, 1));
  attempt("keyctl(JOIN_SESSION_KEYRING)", syscall(SYS_keyctl, 1, "cordon-adv"));
  attempt("request_key(user, x)", syscall(SYS_request_key, "user", "x", NULL, 0));
  return finish("keyring syscalls refused");
}
