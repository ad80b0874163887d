#ifndef CORDON_LAUNCHER_SANDBOX_SANDBOX_SPEC_H_
#define CORDON_LAUNCHER_SANDBOX_SANDBOX_SPEC_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cordon::sandbox {

// One entry of the sandbox's mount tree, applied in order on top of an empty tmpfs root.
struct MountSpec {
  enum class Kind { kBindReadOnly, kBindReadWrite, kTmpfs };
  Kind kind = Kind::kBindReadOnly;
  std::string source;       // host path (binds); ignored for tmpfs
  std::string destination;  // absolute path inside the sandbox
  bool optional = false;    // binds: skip when the source does not exist
  uint64_t size_bytes = 0;  // tmpfs: size cap
  // `source` is the program itself (a script): the bind must be the very file the launcher
  // opened and checked (same device and inode as its O_PATH fd), or setup fails with ESTALE,
  // so a path swapped after the checks cannot bring another host file in.
  bool source_is_program = false;
};

struct ResourceLimit {
  int resource = 0;  // RLIMIT_*
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// Everything the launcher decided about one sandboxed program. Plain data, built by the
// caller (cordon run, the host library) from a profile plus flags; the spawner turns it into
// a pre-fork plan so the child never allocates.
struct SandboxSpec {
  std::string program;               // host path of the executable
  std::vector<std::string> argv;     // argv[0] included
  std::vector<std::string> env;      // KEY=VALUE, the complete environment
  std::string workdir = "/";
  std::string hostname = "cordon";
  std::vector<MountSpec> mounts;
  std::vector<ResourceLimit> rlimits;

  // Host ids the sandbox maps to (never 0) and the ids the program sees. Ignored when
  // rootless: an unprivileged launcher can only map its own uid/gid.
  uid_t host_uid = 65534;
  gid_t host_gid = 65534;
  uid_t sandbox_uid = 1000;
  gid_t sandbox_gid = 1000;

  // Compiled before fork. Empty means no filter, which only tests may ask for.
  std::vector<sock_filter> seccomp_program;
  // The filter answers violations with SECCOMP_RET_USER_NOTIF: the spawner then takes the
  // listener fd from the child (pidfd_getfd) and hands it to the caller.
  bool seccomp_user_notify = false;

  // Host fds passed to the program as fds 3, 4, ... in this order (e.g. the IPC channel).
  std::vector<int> pass_fds;
  // Fds that become the program's stdin, stdout and stderr; -1 inherits the launcher's.
  // `cordon run` passes pipes it relays, so the program never holds the caller's terminal or
  // the file behind its stdout (which it could truncate or make its controlling terminal).
  int stdio[3] = {-1, -1, -1};

  // cgroup v2: a directory fd of the plugin's cgroup, used with clone3(CLONE_INTO_CGROUP) so
  // the child is born inside it. -1 otherwise (v1 placement is a SpawnHooks callback).
  int cgroup_fd = -1;
  // cgroup v1: the plugin cgroup's `tasks` file in each hierarchy, opened O_WRONLY|O_CLOEXEC
  // by the launcher (at most 16). The child writes "0" (itself) into each as its very first
  // step, before anything else runs. The kernel lets a task move itself without taking the
  // global cgroup_threadgroup_rwsem, whose write side waits for a full RCU grace period
  // (~20 ms on the development VM) when the launcher writes the child's pid into
  // cgroup.procs instead; the permission check uses the opener's (the launcher's) creds.
  // The child is single-threaded then, so "the thread" is the whole process.
  std::vector<int> cgroup_v1_task_fds;

  // The sandbox init sends an O_PATH fd of its /tmp to the launcher once the mount tree is
  // built (SandboxProcess::tmp_dir_fd), so the launcher can statfs the size-capped tmpfs and
  // record when it is full. Not through /proc/<init>/root: the init is non-dumpable, which a
  // rootless launcher cannot get past.
  bool report_tmp_dir = false;

  // Kill the sandbox when the thread that spawned it exits (PR_SET_PDEATHSIG). Right for a
  // single-threaded launcher such as `cordon run`; a multi-threaded host relies on the
  // lifeline pipe alone.
  bool die_with_spawning_thread = true;
};

}  // namespace cordon::sandbox

#endif  // CORDON_LAUNCHER_SANDBOX_SANDBOX_SPEC_H_
