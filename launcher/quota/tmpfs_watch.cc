#include "launcher/quota/tmpfs_watch.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace cordon::quota {

absl::StatusOr<std::unique_ptr<TmpfsWatch>> TmpfsWatch::Adopt(int dir_fd, uint64_t limit_bytes) {
  int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return absl::ErrnoToStatus(errno, "dup of the /tmp fd");
  struct statfs fs {};
  if (fstatfs(fd, &fs) != 0) {
    int saved = errno;
    close(fd);
    return absl::ErrnoToStatus(saved, "statfs /tmp");
  }
  if (static_cast<uint64_t>(fs.f_type) != TMPFS_MAGIC) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("/tmp is not a tmpfs (filesystem type 0x", absl::Hex(fs.f_type), ")"));
  }
  return std::unique_ptr<TmpfsWatch>(new TmpfsWatch(fd, limit_bytes));
}

TmpfsWatch::~TmpfsWatch() { close(fd_); }

std::optional<QuotaViolation> TmpfsWatch::Check() {
  if (reported_) return std::nullopt;
  struct statfs fs {};
  // tmpfs counts pages; a write that needs one more than is free fails with ENOSPC, so "no
  // free block" is the state such a write leaves behind.
  if (fstatfs(fd_, &fs) != 0 || fs.f_blocks == 0 || fs.f_bfree > 0) return std::nullopt;
  reported_ = true;
  const uint64_t used = static_cast<uint64_t>(fs.f_blocks - fs.f_bfree) * fs.f_bsize;
  return QuotaViolation{"tmp_size", limit_bytes_, used, "denied", 1};
}

}  // namespace cordon::quota
