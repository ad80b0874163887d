#ifndef CORDON_LAUNCHER_SANDBOX_SANDBOX_CHILD_H_
#define CORDON_LAUNCHER_SANDBOX_SANDBOX_CHILD_H_

#include "launcher/sandbox/child_plan.h"

namespace cordon::sandbox {

// The fds the launcher prepared for the child, as numbers in the child right after clone.
struct ChildFds {
  int go_read = -1;        // launcher -> child: a byte once maps/cgroup are ready, and (only
                           // when the filter denies sendmsg) one after it took the listener
  int error_write = -1;    // child -> launcher (SOCK_SEQPACKET): SetupFailure records and the
                           // listener or the program's pidfd; EOF once exec succeeded
  int status_write = -1;   // init -> launcher: the program's wait status
  int lifeline_read = -1;  // EOF when the launcher dies
  int exec_fd = -1;        // O_PATH fd of the program
  const int* pass_fds = nullptr;   // become 3, 4, ... in the program
  int stdio[3] = {-1, -1, -1};     // replace 0, 1, 2 when >= 0
  int pass_fd_count = 0;
  const int* cgroup_task_fds = nullptr;  // v1 `tasks` files to write "0" into, first thing
  int cgroup_task_fd_count = 0;
};

// Code that runs in the cloned child (pid 1 of the new pid namespace) and in the program
// process it starts (vfork-style, sharing init's memory until exec, unless the program must
// turn dumpable for pidfd_getfd). Everything here is async-signal-safe and allocation-free: it
// reads the prepared ChildPlan and makes system calls (raw ones for credentials, since glibc's
// set*id wrappers synchronise threads that do not exist in the child).
class SandboxChild {
 public:
  // Never returns: exits with the program's status or reports a SetupFailure and exits 125.
  [[noreturn]] static void RunInit(const ChildPlan& plan, const ChildFds& fds);
};

}  // namespace cordon::sandbox

#endif  // CORDON_LAUNCHER_SANDBOX_SANDBOX_CHILD_H_
