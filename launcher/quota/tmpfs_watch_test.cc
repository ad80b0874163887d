#include "launcher/quota/tmpfs_watch.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "launcher/quota/quota_test_support.h"

namespace cordon::quota {
namespace {

// A real 64 KiB tmpfs (root only: mount(2)), filled by this test as a plugin would fill its /tmp.
class TmpfsWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_EQ(mount("cordon-test", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k"),
              0);
    mounted_ = true;
    fd_ = open(dir_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    if (mounted_) umount2(dir_.path().c_str(), MNT_DETACH);
  }
  // Writes until the tmpfs refuses; returns the errno that stopped it.
  int Fill() {
    int file = open((dir_.path() + "/fill").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (file < 0) return errno;
    char chunk[4096] = {};
    int error_number = 0;
    for (int i = 0; i < 1000; ++i) {
      if (write(file, chunk, sizeof(chunk)) < 0) {
        error_number = errno;
        break;
      }
    }
    close(file);
    return error_number;
  }

  testing::TempDir dir_;
  bool mounted_ = false;
  int fd_ = -1;
};

TEST_F(TmpfsWatchTest, ReportsAFullTmpfsOnce) {
  absl::StatusOr<std::unique_ptr<TmpfsWatch>> watch = TmpfsWatch::Adopt(fd_, 64 << 10);
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_FALSE((*watch)->Check().has_value()) << "an empty tmpfs is not full";
  ASSERT_EQ(Fill(), ENOSPC);
  std::optional<QuotaViolation> full = (*watch)->Check();
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->quota, "tmp_size");
  EXPECT_EQ(full->limit, 64u << 10);
  ASSERT_TRUE(full->observed.has_value());
  EXPECT_EQ(*full->observed, 64u << 10);
  EXPECT_EQ(full->action, "denied");
  EXPECT_FALSE((*watch)->Check().has_value()) << "one record per plugin";
}

// The watch keeps its own fd: the filesystem stays readable after the caller's fd and the
// mount are gone, as the sandbox's /tmp is after its mount namespace died.
TEST_F(TmpfsWatchTest, SeesTheFillAfterTheMountIsGone) {
  absl::StatusOr<std::unique_ptr<TmpfsWatch>> watch = TmpfsWatch::Adopt(fd_, 64 << 10);
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_EQ(Fill(), ENOSPC);
  close(fd_);
  fd_ = -1;
  ASSERT_EQ(umount2(dir_.path().c_str(), MNT_DETACH), 0);
  mounted_ = false;
  EXPECT_TRUE((*watch)->Check().has_value());
}

TEST(TmpfsWatchNotTmpfsTest, RefusesAnotherFilesystem) {
  int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(proc, 0);
  absl::StatusOr<std::unique_ptr<TmpfsWatch>> watch = TmpfsWatch::Adopt(proc, 1);
  close(proc);
  ASSERT_FALSE(watch.ok());
  EXPECT_EQ(watch.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(watch.status().message().find("not a tmpfs"), std::string::npos);
}

}  // namespace
}  // namespace cordon::quota
