#include "launcher/sandbox/sandbox_process.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace cordon::sandbox {

bool ExitInfo::exited() const {
  int status = program_status.value_or(init_status);
  return WIFEXITED(status);
}

int ExitInfo::exit_code() const {
  int status = program_status.value_or(init_status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int ExitInfo::signal() const {
  int status = program_status.value_or(init_status);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

int ExitInfo::ShellStatus() const {
  if (exited()) return exit_code();
  return 128 + signal();
}

SandboxProcess::SandboxProcess(pid_t pid, int pidfd, int status_fd, int lifeline_fd,
                               int listener_fd, absl::Time started, int tmp_dir_fd)
    : pid_(pid),
      pidfd_(pidfd),
      status_fd_(status_fd),
      lifeline_fd_(lifeline_fd),
      listener_fd_(listener_fd),
      started_(started),
      tmp_dir_fd_(tmp_dir_fd) {}

SandboxProcess::~SandboxProcess() {
  if (!reaped_) {
    syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  for (int fd : {pidfd_, status_fd_, lifeline_fd_, listener_fd_, tmp_dir_fd_}) {
    if (fd >= 0) close(fd);
  }
}

void SandboxProcess::CloseTmpDir() {
  if (tmp_dir_fd_ >= 0) close(tmp_dir_fd_);
  tmp_dir_fd_ = -1;
}

absl::Status SandboxProcess::Signal(int signal_number) {
  if (reaped_) return absl::FailedPreconditionError("sandbox already ended");
  if (syscall(SYS_pidfd_send_signal, pidfd_, signal_number, nullptr, 0) != 0) {
    if (errno == ESRCH) return absl::OkStatus();  // already exiting; Wait() will tell
    return absl::ErrnoToStatus(errno, absl::StrCat("pidfd_send_signal(", signal_number, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ExitInfo> SandboxProcess::Wait() {
  if (reaped_) return absl::FailedPreconditionError("sandbox already reaped");
  int status = 0;
  struct rusage usage {};
  for (;;) {
    pid_t result = wait4(pid_, &status, 0, &usage);
    if (result == pid_) break;
    if (result < 0 && errno == EINTR) continue;
    return absl::ErrnoToStatus(errno, absl::StrCat("wait4(", pid_, ")"));
  }
  reaped_ = true;
  ExitInfo info;
  info.init_status = status;
  info.wall_time = absl::Now() - started_;
  info.cpu_time = absl::DurationFromTimeval(usage.ru_utime) +
                  absl::DurationFromTimeval(usage.ru_stime);
  info.max_rss_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;
  int program_status = 0;
  ssize_t n;
  do {
    n = read(status_fd_, &program_status, sizeof(program_status));
  } while (n < 0 && errno == EINTR);
  if (n == sizeof(program_status)) info.program_status = program_status;
  return info;
}

}  // namespace cordon::sandbox
