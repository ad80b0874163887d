#include "launcher/quota/cgroup_event_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "launcher/quota/cgroup_fs.h"

namespace cordon::quota {

absl::StatusOr<std::unique_ptr<CgroupEventWatch>> CgroupEventWatch::Create() {
  std::unique_ptr<CgroupEventWatch> w(new CgroupEventWatch());
  w->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (w->epoll_fd_ < 0)
    return absl::InternalError(absl::StrCat("epoll_create1: ", strerror(errno)));
  return w;
}

CgroupEventWatch::~CgroupEventWatch() {
  for (int fd : eventfds_) close(fd);
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

absl::Status CgroupEventWatch::AddToEpoll(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return absl::InternalError(absl::StrCat("epoll_ctl add: ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status CgroupEventWatch::WatchFileModify(const std::string& path) {
  if (inotify_fd_ < 0) {
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0)
      return absl::InternalError(absl::StrCat("inotify_init1: ", strerror(errno)));
    if (absl::Status s = AddToEpoll(inotify_fd_); !s.ok()) return s;
  }
  if (inotify_add_watch(inotify_fd_, path.c_str(), IN_MODIFY) < 0) {
    return absl::Status(errno == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                        absl::StrCat("inotify watch on ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status CgroupEventWatch::WatchV1MemoryOom(const std::string& memory_dir) {
  const std::string control = memory_dir + "/memory.oom_control";
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  int cfd = open(control.c_str(), O_RDONLY | O_CLOEXEC);
  if (cfd < 0) {
    int err = errno;
    close(efd);
    return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                        absl::StrCat("open ", control, ": ", strerror(err)));
  }
  // The kernel keeps its own references; our copy of the control fd is not needed afterwards,
  // and the registration ends when the eventfd is closed or the cgroup removed.
  absl::Status s =
      cgroupfs::WriteFile(memory_dir + "/cgroup.event_control", absl::StrCat(efd, " ", cfd));
  close(cfd);
  if (s.ok()) s = AddToEpoll(efd);
  if (!s.ok()) {
    close(efd);
    return s;
  }
  eventfds_.push_back(efd);
  return absl::OkStatus();
}

void CgroupEventWatch::Drain() {
  char buf[4096];
  if (inotify_fd_ >= 0) {
    while (read(inotify_fd_, buf, sizeof(buf)) > 0) {
    }
  }
  for (int fd : eventfds_) {
    uint64_t v;
    while (read(fd, &v, sizeof(v)) > 0) {
    }
  }
}

}  // namespace cordon::quota
