#ifndef CORDON_LAUNCHER_SANDBOX_SETUP_STEP_H_
#define CORDON_LAUNCHER_SANDBOX_SETUP_STEP_H_

#include <cstdint>

namespace cordon::sandbox {

// The steps the sandboxed child performs, in order. A failing step is reported to the
// launcher as (step, errno, detail) over a close-on-exec pipe so the launcher can print
// which step failed and what to do, instead of the child exiting silently.
enum class SetupStep : int32_t {
  kNone = 0,
  kWaitForParent,
  kSetsid,
  kParentDeathSignal,
  kLauncherGone,
  kUnshareCgroup,
  kMakeRootPrivate,
  kMountStagingTmpfs,
  kPivotRoot,
  kCreateMountPoint,
  kBindMount,
  kRemountReadOnly,
  kMountTmpfs,
  kMountProc,
  kProtectProc,
  kMountDev,
  kBindDevice,
  kDetachOldRoot,
  kRemountRootReadOnly,
  kSetHostname,
  kDropBoundingSet,
  kSetSecurebits,
  kClearAmbient,
  kSetGroups,
  kSetGid,
  kSetUid,
  kDropCapabilities,
  kNoNewPrivs,
  kDumpable,
  kForkPlugin,
  kSetRlimit,
  kSetupFds,
  kResetSignals,
  kChdir,
  kSendProgramPidfd,
  kLandlock,
  kLoadSeccomp,
  kHandOffListener,
  kExec,
  kJoinCgroup,
  kSendTmpDir,
  kLoadInitSeccomp,
  kCount,
};

// Human-readable name of the step, e.g. "bind-mount". Never returns null.
const char* SetupStepName(SetupStep step);

// What the launcher prints as "what to do" for a failure of this step.
const char* SetupStepAdvice(SetupStep step, int error_number);

// Fixed-size report written by the child; no pointers so it can cross the pipe as bytes.
struct SetupFailure {
  SetupStep step;
  int32_t error_number;
  // Index into the plan's mount list (mount steps) or rlimit list; -1 when unused.
  int32_t detail;
};

// Two more message kinds on the same channel, used only with seccomp user notification.
// When the filter allows sendmsg (ChildPlan::listener_via_sendmsg), the program process sends
// kListenerReadyMarker with the listener attached (SCM_RIGHTS) and execs at once. Otherwise it
// first sends a pidfd of itself (SCM_RIGHTS, before its filter exists), then reports at which
// fd number its listener sits, so the launcher can take it with pidfd_getfd while the program
// waits. error_number is 0 in all of them.
inline constexpr SetupStep kProgramPidfdMarker = SetupStep::kSendProgramPidfd;
inline constexpr SetupStep kListenerReadyMarker = SetupStep::kHandOffListener;
// Sent by the init when SandboxSpec::report_tmp_dir asks: an O_PATH fd of the sandbox's /tmp
// (SCM_RIGHTS), right after the mount tree is built. A /tmp that cannot be opened is not a
// setup failure: the marker is simply not sent, and the launcher says what it cannot record.
inline constexpr SetupStep kTmpDirMarker = SetupStep::kSendTmpDir;

}  // namespace cordon::sandbox

#endif  // CORDON_LAUNCHER_SANDBOX_SETUP_STEP_H_
