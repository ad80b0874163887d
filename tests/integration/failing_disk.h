#ifndef CORDON_TESTS_INTEGRATION_FAILING_DISK_H_
#define CORDON_TESTS_INTEGRATION_FAILING_DISK_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cordon::integration {

// A disk that fills up under a running writer, for real: an ext2 filesystem on a loop device
// whose backing file is sparse and lives on a small tmpfs. After Fill() the tmpfs has no room
// left, so write(2) to the ext2 filesystem still succeeds (it only reaches the page cache)
// but writeback, and so fdatasync(2), fails when the loop device cannot store the blocks.
// That is the failure a batch-mode audit log meets in its background flusher. Needs root,
// loop devices and mkfs.ext2 (e2fsprogs).
class FailingDisk {
 public:
  // Mounts everything under `dir` (which must exist and stay until the object is gone).
  static absl::StatusOr<std::unique_ptr<FailingDisk>> Create(const std::string& dir);
  ~FailingDisk();
  FailingDisk(const FailingDisk&) = delete;
  FailingDisk& operator=(const FailingDisk&) = delete;

  // Where the ext2 filesystem is mounted.
  const std::string& mount_point() const { return mount_point_; }
  // Fills the backing tmpfs: no block written from now on reaches the device.
  absl::Status Fill();

 private:
  FailingDisk() = default;

  std::string backing_dir_;  // the tmpfs
  std::string mount_point_;  // the ext2 filesystem
  bool backing_mounted_ = false;
  bool ext2_mounted_ = false;
};

}  // namespace cordon::integration

#endif  // CORDON_TESTS_INTEGRATION_FAILING_DISK_H_
