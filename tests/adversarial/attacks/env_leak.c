// Look for the launcher's or the harness's environment (the harness exports
// CORDON_ADV_SECRET to cordon): the environment must be rebuilt from the profile only.
#include "attack.h"
extern char** environ;
int main(void) {
  int n = 0;
  for (char** e = environ; *e; e++) {
    n++;
    if (strstr(*e, "CORDON_ADV_SECRET") || strstr(*e, "SSH_AUTH_SOCK") || strstr(*e, "LD_PRELOAD"))
      escaped_because("host variable leaked: %.60s", *e);
    else
      note("env: %.60s", *e);
  }
  note("%d variables", n);
  return finish("environment holds only the profile's variables");
}
