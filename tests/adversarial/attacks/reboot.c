// reboot(2): in a pid namespace RB_POWER_OFF would kill the namespace's init; on the host it
// would halt the machine. Either way the plugin must not be able to issue it.
#include <linux/reboot.h>
#include <sys/syscall.h>

#include "attack.h"
int main(void) {
  // CAD_OFF is harmless even if it got through; POWER_OFF is the real test.
  attempt("reboot(CAD_OFF)", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                                     LINUX_REBOOT_CMD_CAD_OFF, NULL));
  attempt("reboot(POWER_OFF)", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                                       LINUX_REBOOT_CMD_POWER_OFF, NULL));
  return finish("reboot refused");
}
