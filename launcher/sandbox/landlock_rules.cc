#include "launcher/sandbox/landlock_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace cordon::sandbox {
namespace {

// Rights of ABI 1 (execute through make-symlink); later ABIs add single bits.
constexpr uint64_t kAbi1FsAccess = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;
// ABI 3 (Linux 6.2); Debian 12's kernel headers (6.1) predate it.
constexpr uint64_t kTruncateAccess = 1ULL << 14;
constexpr uint64_t kFileOnlyAccess = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                     LANDLOCK_ACCESS_FS_READ_FILE | kTruncateAccess;

int AddPathRule(int ruleset, int fd, uint64_t allowed) {
  landlock_path_beneath_attr rule{};
  rule.allowed_access = allowed;
  rule.parent_fd = fd;
  if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
    return errno;
  }
  return 0;
}

// Opens `path` O_PATH and adds a rule for it; a file (not a directory) gets only the rights
// the kernel accepts on files. ENOENT (an optional mount that is absent) is not an error.
int AddRuleForPath(int ruleset, const char* path, uint64_t allowed) {
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : errno;
  int err = AddPathRule(ruleset, fd, allowed);
  if (err == EINVAL) err = AddPathRule(ruleset, fd, allowed & kFileOnlyAccess);
  close(fd);
  return err;
}

}  // namespace

int LandlockAbi() {
  static const int abi = [] {
    long version =
        syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return version < 0 ? 0 : static_cast<int>(version);
  }();
  return abi;
}

uint64_t LandlockHandledAccess(int abi) {
  if (abi < 1) return 0;
  // Executing is left alone (see the header).
  uint64_t access = kAbi1FsAccess & ~static_cast<uint64_t>(LANDLOCK_ACCESS_FS_EXECUTE);
  if (abi >= 2) access |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) access |= kTruncateAccess;
  return access;
}

uint64_t LandlockReadAccess() { return LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR; }

int ApplyLandlock(int abi, const char* read_root, const char* const* writable_paths,
                  int writable_count, int exec_fd) {
  const uint64_t handled = LandlockHandledAccess(abi);
  if (handled == 0) return 0;
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled;
  int ruleset = static_cast<int>(
      syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr.handled_access_fs), 0));
  if (ruleset < 0) return errno;
  int err = AddRuleForPath(ruleset, read_root, LandlockReadAccess());
  for (int i = 0; err == 0 && i < writable_count; ++i) {
    err = AddRuleForPath(ruleset, writable_paths[i], handled);
  }
  // The program file lives on the host, outside the sandbox's tree; the kernel reads it for
  // exec (and a program may re-execute itself through /proc/self/exe).
  if (err == 0 && exec_fd >= 0) {
    err = AddPathRule(ruleset, exec_fd, LANDLOCK_ACCESS_FS_READ_FILE);
  }
  // A regular file on stdin (`cordon run < in`) may be reopened for reading through
  // /dev/stdin. Never for writing: a reopen drops O_APPEND, and before Landlock ABI 3 nothing
  // stops O_TRUNC, so the caller's output file could be rewritten; the fd itself still writes.
  for (int fd = 0; err == 0 && fd <= 2; ++fd) {
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    // An O_PATH fd grants no access at all, whatever its access-mode bits read as.
    if (flags < 0 || (flags & O_PATH) || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((flags & O_ACCMODE) == O_WRONLY) continue;
    err = AddPathRule(ruleset, fd, LANDLOCK_ACCESS_FS_READ_FILE);
  }
  if (err == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) err = errno;
  close(ruleset);
  return err;
}

}  // namespace cordon::sandbox
