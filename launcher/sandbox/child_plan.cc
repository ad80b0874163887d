#include "launcher/sandbox/child_plan.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "launcher/sandbox/landlock_rules.h"
#include "sandbox-profiles/bpf_evaluator.h"

namespace cordon::sandbox {
namespace {

// A sandbox path must be absolute and free of ".." so that creating its mount point can
// never walk out of the new root.
absl::Status CheckSandboxPath(absl::string_view what, absl::string_view path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", path, "' is not an absolute path; write it starting with '/'"));
  }
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " contains a NUL byte"));
  }
  if (path.size() >= 4000) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is longer than 4000 bytes"));
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == absl::string_view::npos) end = path.size();
    absl::string_view component = path.substr(start, end - start);
    if (component == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " '", path, "' contains '..'; give the path without it"));
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

}  // namespace

const char* ChildPlan::Keep(std::string value) {
  strings_.push_back(std::move(value));
  return strings_.back().c_str();
}

absl::StatusOr<std::unique_ptr<ChildPlan>> ChildPlan::Build(const SandboxSpec& spec, bool rootless,
                                                            const std::string& script_path) {
  std::unique_ptr<ChildPlan> plan(new ChildPlan());
  if (!script_path.empty()) plan->exec_path_ = plan->Keep(script_path);
  plan->rootless_ = rootless;
  if (spec.argv.empty()) {
    return absl::InvalidArgumentError("argv is empty; give at least the program name");
  }
  for (const std::string& arg : spec.argv) {
    plan->argv_.push_back(const_cast<char*>(plan->Keep(arg)));
  }
  plan->argv_.push_back(nullptr);
  for (const std::string& entry : spec.env) {
    if (entry.find('=') == std::string::npos || entry.front() == '=') {
      return absl::InvalidArgumentError(
          absl::StrCat("environment entry '", entry, "' is not KEY=VALUE"));
    }
    plan->envp_.push_back(const_cast<char*>(plan->Keep(entry)));
  }
  plan->envp_.push_back(nullptr);

  if (absl::Status s = CheckSandboxPath("working directory", spec.workdir); !s.ok()) return s;
  plan->workdir_ = plan->Keep(spec.workdir);
  if (spec.hostname.empty() || spec.hostname.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("hostname '", spec.hostname, "' must be 1 to 64 characters"));
  }
  plan->hostname_ = plan->Keep(spec.hostname);
  plan->hostname_length_ = spec.hostname.size();

  if (spec.mounts.size() > kMaxPlannedMounts) {
    return absl::InvalidArgumentError(
        absl::StrCat("more than ", kMaxPlannedMounts, " mounts; merge some binds"));
  }
  for (const MountSpec& mount : spec.mounts) {
    if (absl::Status s = CheckSandboxPath("mount destination", mount.destination); !s.ok()) {
      return s;
    }
    if (mount.destination == "/" || mount.destination.starts_with("/proc") ||
        mount.destination == "/dev" || mount.destination.starts_with("/dev/")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mount destination '", mount.destination,
          "' is reserved: cordon provides /, /proc and /dev itself; choose another path"));
    }
    PlannedMount planned{};
    planned.kind = mount.kind;
    planned.destination = plan->Keep(mount.destination);
    planned.optional = mount.optional;
    planned.source_is_program = mount.source_is_program;
    std::string description;
    if (mount.kind == MountSpec::Kind::kTmpfs) {
      if (mount.size_bytes == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tmpfs at '", mount.destination, "' has no size; give it a size cap in bytes"));
      }
      planned.tmpfs_data = plan->Keep(absl::StrFormat("size=%d,mode=1777", mount.size_bytes));
      description = absl::StrCat("tmpfs ", mount.destination, " (", mount.size_bytes, " bytes)");
    } else {
      if (absl::Status s = CheckSandboxPath("mount source", mount.source); !s.ok()) return s;
      planned.source = plan->Keep(mount.source);
      description =
          absl::StrCat(mount.kind == MountSpec::Kind::kBindReadOnly ? "read-only bind " : "bind ",
                       mount.source, " -> ", mount.destination);
    }
    plan->mounts_.push_back(planned);
    plan->mount_descriptions_.push_back(std::move(description));
    if (mount.kind != MountSpec::Kind::kBindReadOnly) {
      plan->landlock_writable_.push_back(planned.destination);
    }
  }
  // /proc and /dev keep the write access their own permissions give (e.g. /dev/null).
  plan->landlock_writable_.push_back("/proc");
  plan->landlock_writable_.push_back("/dev");
  plan->landlock_abi_ = LandlockAbi();

  for (const ResourceLimit& limit : spec.rlimits) {
    if (limit.soft > limit.hard) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource limit ", limit.resource, ": soft limit above hard limit"));
    }
    plan->rlimits_.push_back({limit.resource, limit.soft, limit.hard});
  }

  if (rootless) {
    plan->sandbox_uid_ = spec.sandbox_uid;
    plan->sandbox_gid_ = spec.sandbox_gid;
  } else {
    if (spec.host_uid == 0 || spec.host_gid == 0) {
      return absl::InvalidArgumentError(
          "the sandbox must not map to host uid/gid 0; pick an unprivileged host uid");
    }
    plan->sandbox_uid_ = spec.sandbox_uid;
    plan->sandbox_gid_ = spec.sandbox_gid;
  }

  // libcap knows the kernel's highest capability; the child drops 0..last from the bounding
  // set. cap_max_bits() reads it once here, before fork.
  plan->last_capability_ = static_cast<int>(cap_max_bits()) - 1;
  if (plan->last_capability_ < CAP_SETPCAP) plan->last_capability_ = CAP_LAST_CAP;

  plan->seccomp_filter_ = spec.seccomp_program;
  plan->seccomp_fprog_.len = static_cast<unsigned short>(plan->seccomp_filter_.size());
  plan->seccomp_fprog_.filter = plan->seccomp_filter_.data();
  if (plan->seccomp_filter_.size() > 4096) {
    return absl::InvalidArgumentError("seccomp program longer than the kernel's 4096 limit");
  }
  plan->seccomp_user_notify_ = spec.seccomp_user_notify;
  if (plan->seccomp_user_notify_) {
    // Ask the filter itself, with the arguments the child will pass (SandboxChild's
    // hand-off: sendmsg(error fd, &message, MSG_NOSIGNAL)): a rule on sendmsg's arguments
    // or a profile without the channel group makes this false and keeps the pidfd_getfd path.
    struct seccomp_data data {};
    data.nr = __NR_sendmsg;
    data.arch = AUDIT_ARCH_X86_64;
    data.args[0] = 3 + spec.pass_fds.size() + 1;  // FdLayout: pass fds, exec fd, error fd
    data.args[2] = MSG_NOSIGNAL;
    absl::StatusOr<uint32_t> answer = profiles::BpfEvaluator::Evaluate(plan->seccomp_filter_, data);
    plan->listener_via_sendmsg_ = answer.ok() && *answer == SECCOMP_RET_ALLOW;
  }
  plan->die_with_spawning_thread_ = spec.die_with_spawning_thread;
  plan->report_tmp_dir_ = spec.report_tmp_dir;
  return plan;
}

}  // namespace cordon::sandbox
