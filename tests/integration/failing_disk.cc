#include "tests/integration/failing_disk.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace cordon::integration {
namespace {

constexpr off_t kImageBytes = 16 << 20;          // the ext2 filesystem
constexpr const char* kBackingSize = "size=4m";  // room for mkfs's metadata, and a little more

absl::Status Errno(const std::string& what) { return absl::ErrnoToStatus(errno, what); }

// Runs mkfs.ext2 quietly on `image`; found on PATH or in the sbin directories. Blocks of a
// page each: a file's first data block is then a page of the backing file nothing has
// written yet (with 1 KiB blocks it can share a page mkfs already filled, and its writeback
// would need no new room).
absl::Status MakeExt2(const std::string& image) {
  const pid_t pid = fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
    }
    for (const char* mkfs : {"/usr/sbin/mkfs.ext2", "/sbin/mkfs.ext2"}) {
      execl(mkfs, mkfs, "-q", "-F", "-b", "4096", image.c_str(), static_cast<char*>(nullptr));
    }
    execlp("mkfs.ext2", "mkfs.ext2", "-q", "-F", "-b", "4096", image.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return absl::FailedPreconditionError("mkfs.ext2 not found: install e2fsprogs");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("mkfs.ext2 ", image, " failed: status ", status));
  }
  return absl::OkStatus();
}

// An attached loop device, open: with LO_FLAGS_AUTOCLEAR it detaches itself at the last close,
// so the fd must stay open until the filesystem on it is mounted.
struct Loop {
  std::string path;
  int fd = -1;
};

// Attaches `image` to a free loop device.
absl::StatusOr<Loop> AttachLoop(const std::string& image) {
  const int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (control < 0) return Errno("open /dev/loop-control");
  const int backing = open(image.c_str(), O_RDWR | O_CLOEXEC);
  if (backing < 0) {
    close(control);
    return Errno(absl::StrCat("open ", image));
  }
  absl::StatusOr<Loop> result = absl::UnavailableError("no free loop device");
  // Another process may take the free device between the two calls: try again.
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int number = ioctl(control, LOOP_CTL_GET_FREE);
    if (number < 0) {
      result = Errno("LOOP_CTL_GET_FREE");
      break;
    }
    const std::string device = absl::StrCat("/dev/loop", number);
    const int loop = open(device.c_str(), O_RDWR | O_CLOEXEC);
    if (loop < 0) continue;
    loop_config config{};
    config.fd = static_cast<uint32_t>(backing);
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    const int configured = ioctl(loop, LOOP_CONFIGURE, &config);
    const int saved = errno;
    if (configured == 0) {
      result = Loop{device, loop};
      break;
    }
    close(loop);
    if (saved != EBUSY) {
      errno = saved;
      result = Errno(absl::StrCat("LOOP_CONFIGURE ", device));
      break;
    }
  }
  close(backing);
  close(control);
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FailingDisk>> FailingDisk::Create(const std::string& dir) {
  std::unique_ptr<FailingDisk> disk(new FailingDisk());
  disk->backing_dir_ = dir + "/backing";
  disk->mount_point_ = dir + "/disk";
  if (mkdir(disk->backing_dir_.c_str(), 0700) != 0 ||
      mkdir(disk->mount_point_.c_str(), 0755) != 0) {
    return Errno("mkdir");
  }
  if (mount("tmpfs", disk->backing_dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, kBackingSize) !=
      0) {
    return Errno(absl::StrCat("mount tmpfs on ", disk->backing_dir_));
  }
  disk->backing_mounted_ = true;
  const std::string image = disk->backing_dir_ + "/image";
  const int fd = open(image.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(absl::StrCat("create ", image));
  const int sized = ftruncate(fd, kImageBytes);  // sparse: blocks use tmpfs room when written
  close(fd);
  if (sized != 0) return Errno(absl::StrCat("ftruncate ", image));
  if (absl::Status s = MakeExt2(image); !s.ok()) return s;
  absl::StatusOr<Loop> loop = AttachLoop(image);
  if (!loop.ok()) return loop.status();
  const int mounted =
      mount(loop->path.c_str(), disk->mount_point_.c_str(), "ext2", MS_NOSUID | MS_NODEV, "");
  const int saved = errno;
  close(loop->fd);  // the mount holds the device now; unmounting detaches it
  if (mounted != 0) {
    errno = saved;
    return Errno(absl::StrCat("mount ", loop->path, " on ", disk->mount_point_));
  }
  disk->ext2_mounted_ = true;
  chmod(disk->mount_point_.c_str(), 0755);
  return disk;
}

absl::Status FailingDisk::Fill() {
  const std::string filler = backing_dir_ + "/filler";
  const int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(absl::StrCat("create ", filler));
  // Bounded by the tmpfs size: ENOSPC ends it.
  const std::vector<char> chunk(64 << 10, 'f');
  for (;;) {
    const ssize_t n = write(fd, chunk.data(), chunk.size());
    if (n > 0) continue;
    const int saved = errno;
    close(fd);
    if (n < 0 && saved == ENOSPC) return absl::OkStatus();
    errno = saved;
    return Errno(absl::StrCat("filling ", filler));
  }
}

FailingDisk::~FailingDisk() {
  // Lazily: the filesystem cannot write its last dirty blocks, and the loop device detaches
  // itself (LO_FLAGS_AUTOCLEAR) once the filesystem lets go of it.
  if (ext2_mounted_) umount2(mount_point_.c_str(), MNT_DETACH);
  if (backing_mounted_) umount2(backing_dir_.c_str(), MNT_DETACH);
}

}  // namespace cordon::integration
