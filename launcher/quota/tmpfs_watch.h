// Notices when a sandbox's size-capped tmpfs (its /tmp) fills up. The kernel answers the
// write that does not fit with ENOSPC and tells nobody else, so the launcher looks at the
// filesystem itself: statfs on the supervisor's periodic tick and once more at exit.
#ifndef CORDON_LAUNCHER_QUOTA_TMPFS_WATCH_H_
#define CORDON_LAUNCHER_QUOTA_TMPFS_WATCH_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "launcher/quota/quota_accounting.h"

namespace cordon::quota {

class TmpfsWatch {
 public:
  // Watches the filesystem of `dir_fd` (the sandbox's /tmp as its init opened it, O_PATH; the
  // fd is duplicated, the caller keeps its own) after checking that it is a tmpfs. The fd keeps
  // the filesystem alive after the sandbox's mount namespace is gone, so the check at exit
  // still sees what the plugin left. `limit_bytes` is the size the mount was given, for the
  // record.
  static absl::StatusOr<std::unique_ptr<TmpfsWatch>> Adopt(int dir_fd, uint64_t limit_bytes);
  ~TmpfsWatch();
  TmpfsWatch(const TmpfsWatch&) = delete;
  TmpfsWatch& operator=(const TmpfsWatch&) = delete;

  // The first time the filesystem has no free block: {"tmp_size", limit, bytes in use,
  // "denied"}; nullopt before and ever after (one record per plugin however often it fills
  // /tmp again). A fill that the plugin deleted again before the next look goes unseen.
  std::optional<QuotaViolation> Check();

 private:
  TmpfsWatch(int fd, uint64_t limit_bytes) : fd_(fd), limit_bytes_(limit_bytes) {}

  int fd_;
  uint64_t limit_bytes_;
  bool reported_ = false;
};

}  // namespace cordon::quota

#endif  // CORDON_LAUNCHER_QUOTA_TMPFS_WATCH_H_
