#ifndef CORDON_LAUNCHER_SANDBOX_CHILD_PLAN_H_
#define CORDON_LAUNCHER_SANDBOX_CHILD_PLAN_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/sandbox/sandbox_spec.h"

namespace cordon::sandbox {

// Where the host root is reachable inside the staging mount namespace until it is detached.
inline constexpr char kOldRootDir[] = "/.cordon-oldroot";

// The child keeps one fd per mount on its stack, so the count is bounded.
inline constexpr int kMaxPlannedMounts = 256;

// A mount with every string already prepared for the child.
struct PlannedMount {
  MountSpec::Kind kind;
  const char* source;       // host path (binds), nullptr for tmpfs
  const char* destination;  // path inside the new root
  const char* tmpfs_data;   // "size=...,mode=..." (tmpfs)
  bool optional;
  bool source_is_program;  // must be the same file as the program's verified O_PATH fd
};

struct PlannedRlimit {
  int resource;
  uint64_t soft;
  uint64_t hard;
};

// The sandbox spec turned into fixed arrays and C strings before fork, so that the code
// running in the child after clone only reads memory and makes system calls. The plan is
// immutable once built; the child gets a const reference.
class ChildPlan {
 public:
  // script_path: for a #! program, the path inside the sandbox it is bound at (spec.mounts
  // must already hold that bind); empty otherwise.
  static absl::StatusOr<std::unique_ptr<ChildPlan>> Build(const SandboxSpec& spec, bool rootless,
                                                          const std::string& script_path = "");

  ChildPlan(const ChildPlan&) = delete;
  ChildPlan& operator=(const ChildPlan&) = delete;

  const std::vector<PlannedMount>& mounts() const { return mounts_; }
  const std::vector<PlannedRlimit>& rlimits() const { return rlimits_; }
  char* const* argv() const { return argv_.data(); }
  char* const* envp() const { return envp_.data(); }
  const char* workdir() const { return workdir_; }
  // A #! script is bound read-only into the sandbox and executed by this path, so the
  // interpreter never holds an fd to the host file; nullptr: execute the launcher's fd.
  const char* exec_path() const { return exec_path_; }
  const char* hostname() const { return hostname_; }
  size_t hostname_length() const { return hostname_length_; }
  uid_t sandbox_uid() const { return sandbox_uid_; }
  gid_t sandbox_gid() const { return sandbox_gid_; }
  bool rootless() const { return rootless_; }
  int last_capability() const { return last_capability_; }
  const sock_fprog& seccomp_program() const { return seccomp_fprog_; }
  bool has_seccomp() const { return !seccomp_filter_.empty(); }
  bool seccomp_user_notify() const { return seccomp_user_notify_; }
  // The filter lets the program process call sendmsg, so it can pass its seccomp listener to
  // the launcher itself (SCM_RIGHTS) right after loading the filter and exec at once. When
  // false, the launcher takes the listener with pidfd_getfd while the program waits, which
  // costs two more wake-ups and needs the program process dumpable for a moment.
  bool listener_via_sendmsg() const { return listener_via_sendmsg_; }
  // The launcher must take the listener with pidfd_getfd: a user-notify filter whose program
  // process cannot send it (see above).
  bool listener_via_pidfd() const {
    return has_seccomp() && seccomp_user_notify() && !listener_via_sendmsg();
  }
  bool die_with_spawning_thread() const { return die_with_spawning_thread_; }
  bool report_tmp_dir() const { return report_tmp_dir_; }
  // Landlock ABI to apply (0: the kernel has none) and the paths below which the program may
  // write (see landlock_rules.h).
  int landlock_abi() const { return landlock_abi_; }
  const char* const* landlock_writable() const { return landlock_writable_.data(); }
  int landlock_writable_count() const { return static_cast<int>(landlock_writable_.size()); }
  const std::string& DescribeMount(int index) const { return mount_descriptions_[index]; }

 private:
  ChildPlan() = default;
  const char* Keep(std::string value);

  std::deque<std::string> strings_;  // deque: stable addresses for the c_str() pointers
  std::vector<PlannedMount> mounts_;
  std::vector<std::string> mount_descriptions_;
  std::vector<PlannedRlimit> rlimits_;
  std::vector<char*> argv_;
  std::vector<char*> envp_;
  const char* workdir_ = "/";
  const char* exec_path_ = nullptr;
  const char* hostname_ = "cordon";
  size_t hostname_length_ = 0;
  uid_t sandbox_uid_ = 0;
  gid_t sandbox_gid_ = 0;
  bool rootless_ = false;
  int last_capability_ = 0;
  std::vector<sock_filter> seccomp_filter_;
  sock_fprog seccomp_fprog_{};
  bool seccomp_user_notify_ = false;
  bool listener_via_sendmsg_ = false;
  bool die_with_spawning_thread_ = true;
  bool report_tmp_dir_ = false;
  int landlock_abi_ = 0;
  std::vector<const char*> landlock_writable_;
};

}  // namespace cordon::sandbox

#endif  // CORDON_LAUNCHER_SANDBOX_CHILD_PLAN_H_
