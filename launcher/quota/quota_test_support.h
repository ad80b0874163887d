// Test-only helpers shared by the quota tests: a temp dir, a forked child that waits for a go
// signal, and a reaper so that every process a test creates is reaped even when it fails.
#ifndef CORDON_LAUNCHER_QUOTA_QUOTA_TEST_SUPPORT_H_
#define CORDON_LAUNCHER_QUOTA_QUOTA_TEST_SUPPORT_H_

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <utility>

namespace cordon::quota::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cordon-quota-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    if (path_.empty()) return;
    nftw(
        path_.c_str(),
        [](const char* p, const struct stat*, int type, struct FTW*) {
          return type == FTW_DP ? rmdir(p) : unlink(p);
        },
        16, FTW_DEPTH | FTW_PHYS);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Makes this process the subreaper of everything it forks, and on destruction reaps whatever
// is left (bounded: a test that leaks a live process fails on the timeout, not by hanging).
class ScopedReaper {
 public:
  ScopedReaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~ScopedReaper() {
    for (int i = 0; i < 2000; ++i) {
      pid_t r = waitpid(-1, nullptr, WNOHANG);
      if (r < 0 && errno == ECHILD) return;
      if (r == 0) {
        timespec ts{0, 1000000};
        nanosleep(&ts, nullptr);
      }
    }
  }
};

// A forked child that blocks until Go() and then runs `body` (which must be async-signal-safe
// and not allocate), exiting with its return value. Killed and reaped on destruction.
class TestChild {
 public:
  template <typename F>
  static TestChild Start(F body) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) return TestChild(-1, -1);
    pid_t pid = fork();
    if (pid == 0) {
      close(go[1]);
      char c;
      ssize_t n;
      do {
        n = read(go[0], &c, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) _exit(99);  // the test went away before saying go
      close(go[0]);
      _exit(body());
    }
    close(go[0]);
    if (pid < 0) {
      close(go[1]);
      return TestChild(-1, -1);
    }
    return TestChild(pid, go[1]);
  }
  TestChild(TestChild&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), go_fd_(std::exchange(o.go_fd_, -1)) {}
  TestChild& operator=(TestChild&&) = delete;
  ~TestChild() {
    if (go_fd_ >= 0) close(go_fd_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  bool Go() {
    const char c = 'g';
    bool ok = write(go_fd_, &c, 1) == 1;
    close(go_fd_);
    go_fd_ = -1;
    return ok;
  }
  // Blocks until the child exits; returns the wait status (-1 on error).
  int Wait() {
    int status = -1;
    if (pid_ <= 0) return -1;
    pid_t r;
    do {
      r = waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    pid_ = -1;
    return r < 0 ? -1 : status;
  }

 private:
  TestChild(pid_t pid, int go_fd) : pid_(pid), go_fd_(go_fd) {}
  pid_t pid_;
  int go_fd_;
};

}  // namespace cordon::quota::testing

#endif  // CORDON_LAUNCHER_QUOTA_QUOTA_TEST_SUPPORT_H_
