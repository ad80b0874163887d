// One pollable fd that becomes readable when a cgroup reports a quota event (OOM kill,
// pids.max refusal, memory.max hit), so the supervisor can put it in its epoll loop instead
// of polling counters. It says "look now", not what happened: after it fires, Drain() it and
// compare ReadUsage() with the previous reading (DetectViolations). Wakeups may be spurious.
#ifndef CORDON_LAUNCHER_QUOTA_CGROUP_EVENT_WATCH_H_
#define CORDON_LAUNCHER_QUOTA_CGROUP_EVENT_WATCH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cordon::quota {

class CgroupEventWatch {
 public:
  static absl::StatusOr<std::unique_ptr<CgroupEventWatch>> Create();
  CgroupEventWatch(const CgroupEventWatch&) = delete;
  CgroupEventWatch& operator=(const CgroupEventWatch&) = delete;
  ~CgroupEventWatch();

  // Wakes on "file modified" notifications, which cgroupfs raises for memory.events,
  // pids.events and cgroup.events (v2) and pids.events (v1).
  absl::Status WatchFileModify(const std::string& path);
  // cgroup v1 memory OOM notification: an eventfd registered through cgroup.event_control
  // against memory.oom_control of `memory_dir`.
  absl::Status WatchV1MemoryOom(const std::string& memory_dir);

  // epoll fd (O_CLOEXEC), owned by this object; readable while an event is pending.
  int fd() const { return epoll_fd_; }
  // Consumes pending notifications so fd() stops being readable until the next event.
  void Drain();

 private:
  CgroupEventWatch() = default;
  absl::Status AddToEpoll(int fd);

  int epoll_fd_ = -1;
  int inotify_fd_ = -1;
  std::vector<int> eventfds_;
};

}  // namespace cordon::quota

#endif  // CORDON_LAUNCHER_QUOTA_CGROUP_EVENT_WATCH_H_
