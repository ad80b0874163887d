#include "launcher/sandbox/setup_step.h"

#include <cerrno>

namespace cordon::sandbox {

const char* SetupStepName(SetupStep step) {
  switch (step) {
    case SetupStep::kNone: return "none";
    case SetupStep::kWaitForParent: return "wait for launcher (uid/gid maps, cgroup)";
    case SetupStep::kSetsid: return "setsid";
    case SetupStep::kParentDeathSignal: return "set parent-death signal";
    case SetupStep::kLauncherGone: return "launcher exited during setup";
    case SetupStep::kUnshareCgroup: return "unshare cgroup namespace";
    case SetupStep::kMakeRootPrivate: return "make mount propagation private";
    case SetupStep::kMountStagingTmpfs: return "mount root tmpfs";
    case SetupStep::kPivotRoot: return "pivot_root";
    case SetupStep::kCreateMountPoint: return "create mount point";
    case SetupStep::kBindMount: return "bind-mount";
    case SetupStep::kRemountReadOnly: return "make bind mount read-only, nosuid, nodev";
    case SetupStep::kMountTmpfs: return "mount tmpfs";
    case SetupStep::kMountProc: return "mount /proc";
    case SetupStep::kProtectProc: return "protect /proc/sys and friends";
    case SetupStep::kMountDev: return "mount /dev";
    case SetupStep::kBindDevice: return "bind device node into /dev";
    case SetupStep::kDetachOldRoot: return "detach host root";
    case SetupStep::kRemountRootReadOnly: return "make sandbox root read-only";
    case SetupStep::kSetHostname: return "set hostname";
    case SetupStep::kDropBoundingSet: return "drop capability bounding set";
    case SetupStep::kSetSecurebits: return "lock securebits";
    case SetupStep::kClearAmbient: return "clear ambient capabilities";
    case SetupStep::kSetGroups: return "clear supplementary groups";
    case SetupStep::kSetGid: return "switch gid";
    case SetupStep::kSetUid: return "switch uid";
    case SetupStep::kDropCapabilities: return "drop all capabilities";
    case SetupStep::kNoNewPrivs: return "set no_new_privs";
    case SetupStep::kDumpable: return "mark init non-dumpable";
    case SetupStep::kForkPlugin: return "fork the program from the sandbox init";
    case SetupStep::kSetRlimit: return "set resource limit";
    case SetupStep::kSetupFds: return "arrange file descriptors";
    case SetupStep::kResetSignals: return "reset signal handlers";
    case SetupStep::kChdir: return "change to working directory";
    case SetupStep::kSendProgramPidfd: return "send the program's pidfd to the launcher";
    case SetupStep::kLandlock: return "apply the Landlock ruleset";
    case SetupStep::kLoadSeccomp: return "load seccomp filter";
    case SetupStep::kLoadInitSeccomp: return "load the sandbox init's own seccomp filter";
    case SetupStep::kHandOffListener: return "hand the seccomp listener to the launcher";
    case SetupStep::kExec: return "execute the program";
    case SetupStep::kJoinCgroup: return "join the plugin's cgroup (v1 tasks file)";
    case SetupStep::kSendTmpDir: return "send the sandbox's /tmp to the launcher";
    case SetupStep::kCount: break;
  }
  return "unknown step";
}

const char* SetupStepAdvice(SetupStep step, int error_number) {
  switch (step) {
    case SetupStep::kBindMount:
    case SetupStep::kCreateMountPoint:
      if (error_number == ENOENT) {
        return "the source path does not exist; fix the --bind/--ro-bind argument or mark the "
               "profile mount 'optional: true'";
      }
      if (error_number == ESTALE && step == SetupStep::kBindMount) {
        return "the program file was replaced while the sandbox was being set up; keep "
               "programs where only trusted users can write, and run it again";
      }
      return "check that the source exists and that the launcher may read it";
    case SetupStep::kMountProc:
      return "a fresh /proc needs an unobstructed /proc on the host (no overmounts); rootless "
             "launches also need unprivileged user namespaces enabled";
    case SetupStep::kWaitForParent:
    case SetupStep::kLauncherGone:
      return "the launcher could not finish the child's setup; see the message above";
    case SetupStep::kExec:
      if (error_number == ENOENT) {
        return "the program or its ELF interpreter/libraries are not inside the sandbox; use a "
               "profile that mounts /lib and /usr (e.g. 'default'), or a static program";
      }
      if (error_number == EACCES) {
        return "the program must be executable by the sandbox's unprivileged uid (chmod o+x) "
               "and its filesystem must not be mounted noexec";
      }
      return "check that PROGRAM is an executable for this machine";
    case SetupStep::kLandlock:
      return "the kernel refused the Landlock ruleset that keeps brokered and inherited fds "
             "from being reopened with more access; report this with the kernel version";
    case SetupStep::kLoadSeccomp:
    case SetupStep::kLoadInitSeccomp:
      return "the kernel refused the seccomp filter; check that the kernel supports seccomp "
             "filters (CONFIG_SECCOMP_FILTER)";
    case SetupStep::kForkPlugin:
      if (error_number == EAGAIN) {
        return "the pids quota (or RLIMIT_NPROC) left no room for the program next to the "
               "sandbox's init; raise --pids / limits.pids";
      }
      return "the kernel refused to create the program's process; check memory and pids quotas";
    case SetupStep::kSetRlimit:
      return "lower the limit in the profile or in the flags; an unprivileged launcher cannot "
             "raise hard limits";
    default:
      return "this is unexpected on a supported kernel; report it with the output of "
             "'uname -a' and the profile";
  }
}

}  // namespace cordon::sandbox
