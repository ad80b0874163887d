#include "tests/integration/cordon_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/integration/temp_dir.h"

namespace cordon::integration {
namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

int PollMs(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
}

struct Launched {
  pid_t pid = -1;
  int pidfd = -1;
  int out = -1;
  int err = -1;
  std::string audit_dir;
  std::string audit_path;
  std::shared_ptr<OuterCgroup> outer;
  std::string outer_net;
};

// Forks and execs cordon with the options' stdio, fds and wrapper. The child only calls
// async-signal-safe functions: everything it needs is prepared here.
absl::StatusOr<Launched> Launch(const RunOptions& options) {
  Launched launched;
  std::vector<std::string> argv = options.wrapper;
  argv.push_back(options.cordon_path.empty() ? CordonRunner::CordonBinary() : options.cordon_path);
  argv.insert(argv.end(), options.subcommand.begin(), options.subcommand.end());
  if (options.audit) {
    char pattern[] = "/tmp/cordon-integ-audit.XXXXXX";
    if (mkdtemp(pattern) == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp");
    launched.audit_dir = pattern;
    chmod(pattern, 0755);
    if (options.audit_dir_owner.has_value() &&
        chown(pattern, *options.audit_dir_owner, *options.audit_dir_owner) != 0) {
      return absl::ErrnoToStatus(errno, "chown audit dir");
    }
    launched.audit_path = launched.audit_dir + "/audit.jsonl";
    argv.push_back("--audit-log");
    argv.push_back(launched.audit_path);
  }
  argv.insert(argv.end(), options.args.begin(), options.args.end());
  std::vector<char*> raw;
  for (std::string& arg : argv) raw.push_back(arg.data());
  raw.push_back(nullptr);

  int stdin_fd = -1;
  if (options.stdin_fd >= 0) {
    stdin_fd = fcntl(options.stdin_fd, F_DUPFD_CLOEXEC, 3);
  } else if (!options.stdin_data.empty()) {
    char pattern[] = "/tmp/cordon-integ-stdin.XXXXXX";
    stdin_fd = mkostemp(pattern, O_CLOEXEC);
    if (stdin_fd >= 0) {
      unlink(pattern);
      (void)!write(stdin_fd, options.stdin_data.data(), options.stdin_data.size());
      lseek(stdin_fd, 0, SEEK_SET);
    }
  } else {
    stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (stdin_fd < 0) return absl::ErrnoToStatus(errno, "preparing stdin");
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    close(stdin_fd);
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  // The outer net; without a cgroup (not root, no usable hierarchy) only the rlimits.
  absl::StatusOr<std::unique_ptr<OuterCgroup>> outer = OuterCgroup::Create(options.outer);
  if (outer.ok()) {
    launched.outer = std::move(*outer);
    launched.outer_net = launched.outer->dirs().empty() ? "cgroup" : launched.outer->dirs()[0];
  } else {
    launched.outer_net = absl::StrCat("rlimits only: ", outer.status().message());
  }
  const std::vector<int> join_fds =
      launched.outer != nullptr ? launched.outer->join_fds() : std::vector<int>();
  // v2: the parent places the child while it waits, before it can exec.
  const bool placed_by_parent = launched.outer != nullptr && join_fds.empty();
  int placed[2] = {-1, -1};
  if (placed_by_parent && pipe2(placed, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2 (outer cgroup)");
  }
  const bool make_ctty = options.stdin_is_ctty;
  std::vector<std::pair<int, int>> leaks = options.leak_fds;
  pid_t pid = fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    // First of all: into the net, so nothing cordon does happens outside it.
    for (int fd : join_fds) {
      if (write(fd, "0", 1) != 1) _exit(126);
    }
    if (placed_by_parent) {
      char c;
      if (read(placed[0], &c, 1) != 1) _exit(126);
    }
    SetOuterRlimits();
    // Above every fd we place, so dup2 never clobbers a source.
    int in = fcntl(stdin_fd, F_DUPFD_CLOEXEC, 200);
    int o = fcntl(out[1], F_DUPFD_CLOEXEC, 200);
    int e = fcntl(err[1], F_DUPFD_CLOEXEC, 200);
    for (auto& leak : leaks) leak.first = fcntl(leak.first, F_DUPFD_CLOEXEC, 200);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    for (const auto& leak : leaks) dup2(leak.first, leak.second);  // dup2 clears CLOEXEC
    if (make_ctty) {
      setsid();
      ioctl(0, TIOCSCTTY, 0);
    }
    // A fresh process group, so the timeout can kill cordon and anything it forked.
    if (!make_ctty) setpgid(0, 0);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    execvp(raw[0], raw.data());
    _exit(127);
  }
  close(stdin_fd);
  close(out[1]);
  close(err[1]);
  if (placed_by_parent) {
    absl::Status s = launched.outer->Place(pid);
    // Released either way; a child that could not be placed exits (EOF) instead of running.
    if (s.ok()) (void)!write(placed[1], "g", 1);
    close(placed[0]);
    close(placed[1]);
    if (!s.ok()) launched.outer_net = absl::StrCat("placing cordon failed: ", s.message());
  }
  launched.pid = pid;
  launched.pidfd = PidfdOpen(pid);
  launched.out = out[0];
  launched.err = err[0];
  return launched;
}

}  // namespace

std::string CordonRunner::CordonBinary() {
  return EnvOr("CORDON_BUILD_DIR", "build") + "/launcher/cli/cordon";
}

std::string CordonRunner::Probe(const std::string& name, bool is_static) {
  return absl::StrCat(EnvOr("CORDON_BUILD_DIR", "build"), "/tests/programs/", name,
                      is_static ? "_static" : "");
}

std::string CordonRunner::ProfilePath(const std::string& name) {
  return absl::StrCat(EnvOr("CORDON_SOURCE_DIR", "."), "/sandbox-profiles/profiles/", name,
                      ".textproto");
}

RunResult CordonRunner::Run(const RunOptions& options) {
  RunResult result;
  absl::StatusOr<Launched> launched = Launch(options);
  if (!launched.ok()) {
    result.err = std::string(launched.status().message());
    return result;
  }
  result.cordon_pid = launched->pid;
  result.audit_path = launched->audit_path;
  const absl::Time deadline = absl::Now() + options.timeout;
  bool out_open = true, err_open = true, exited = false;
  char buf[65536];
  while (out_open || err_open || !exited) {
    struct pollfd polls[3] = {{out_open ? launched->out : -1, POLLIN, 0},
                              {err_open ? launched->err : -1, POLLIN, 0},
                              {exited ? -1 : launched->pidfd, POLLIN, 0}};
    int ready = poll(polls, 3, PollMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      // Outer safety net: cordon's own death kills its sandbox (lifeline, pdeathsig).
      result.timed_out = true;
      kill(-launched->pid, SIGKILL);
      kill(launched->pid, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (polls[i].revents == 0) continue;
      ssize_t n = read(polls[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        (i == 0 ? out_open : err_open) = false;
      }
    }
    if (polls[2].revents != 0) exited = true;
  }
  int status = 0;
  while (waitpid(launched->pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  close(launched->out);
  close(launched->err);
  close(launched->pidfd);
  if (!launched->audit_path.empty()) {
    result.audit_text = ReadWholeFile(launched->audit_path);
    result.audit = ReadAudit(launched->audit_path, &result.audit_error);
    RemoveTree(launched->audit_dir);
  }
  result.outer_net = launched->outer_net;
  if (launched->outer != nullptr) {
    result.outer_leftovers = launched->outer->Leftovers();
    if (absl::Status s = launched->outer->Remove(); !s.ok()) {
      result.outer_leftovers.push_back(absl::StrCat("removing the outer cgroup: ", s.message()));
    }
  }
  return result;
}

absl::StatusOr<RunningCordon> CordonRunner::Start(const RunOptions& options) {
  absl::StatusOr<Launched> launched = Launch(options);
  if (!launched.ok()) return launched.status();
  close(launched->err);
  RunningCordon running;
  running.pid = launched->pid;
  running.pidfd = launched->pidfd;
  running.out_fd = launched->out;
  running.audit_dir = launched->audit_dir;
  running.audit_path = launched->audit_path;
  running.outer = std::move(launched->outer);
  return running;
}

bool CordonRunner::WaitForLine(const RunningCordon& running, const std::string& line,
                               absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string pending;
  for (;;) {
    struct pollfd poll_fd {
      running.out_fd, POLLIN, 0
    };
    int ready = poll(&poll_fd, 1, PollMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char c;
    // Byte by byte: nothing after the wanted line may be consumed.
    ssize_t n = read(running.out_fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c != '\n') {
      pending.push_back(c);
      continue;
    }
    if (pending == line) return true;
    pending.clear();
  }
}

void CordonRunner::Finish(RunningCordon* running) {
  if (running->pid > 0) {
    kill(running->pid, SIGKILL);
    int status;
    while (waitpid(running->pid, &status, 0) < 0 && errno == EINTR) {
    }
    running->pid = -1;
  }
  if (running->pidfd >= 0) close(running->pidfd);
  if (running->out_fd >= 0) close(running->out_fd);
  running->pidfd = running->out_fd = -1;
  if (!running->audit_dir.empty()) RemoveTree(running->audit_dir);
  running->audit_dir.clear();
  if (running->outer != nullptr) (void)running->outer->Remove();
  running->outer.reset();
}

std::vector<audit::JsonValue> CordonRunner::ReadAudit(const std::string& path, std::string* error) {
  std::vector<audit::JsonValue> records;
  std::string text = ReadWholeFile(path);
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    absl::StatusOr<audit::JsonValue> parsed =
        audit::JsonValue::Parse(std::string_view(line.data(), line.size()));
    if (!parsed.ok()) {
      if (error != nullptr && error->empty()) {
        *error = absl::StrCat("line ", records.size() + 1, ": ", parsed.status().message());
      }
      continue;
    }
    records.push_back(std::move(*parsed));
  }
  return records;
}

std::vector<const audit::JsonValue*> RunResult::Records(const std::string& type) const {
  std::vector<const audit::JsonValue*> out;
  for (const audit::JsonValue& record : audit) {
    if (StringField(record, "type") == type) out.push_back(&record);
  }
  return out;
}

const audit::JsonValue* RunResult::Record(const std::string& type) const {
  std::vector<const audit::JsonValue*> all = Records(type);
  return all.empty() ? nullptr : all.front();
}

std::vector<std::string> RunResult::Lines(const std::string& prefix) const {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, absl::string_view(prefix.data(), prefix.size()))) {
      lines.emplace_back(line);
    }
  }
  return lines;
}

std::string RunResult::Line(const std::string& check) const {
  std::vector<std::string> lines = Lines(absl::StrCat(check, " "));
  return lines.empty() ? "" : lines.front();
}

std::string RunResult::Field(const std::string& name, const std::string& key) const {
  std::string line = Line(name);
  std::string wanted = absl::StrCat(key, "=");
  for (absl::string_view word : absl::StrSplit(line, ' ')) {
    if (absl::StartsWith(word, wanted)) return std::string(word.substr(wanted.size()));
  }
  return "";
}

pid_t RunResult::HostPid() const {
  const audit::JsonValue* start = Record("plugin.start");
  return start == nullptr ? -1 : static_cast<pid_t>(IntField(*start, "host_pid"));
}

std::string RunResult::Describe() const {
  return absl::StrCat("exit_status=", exit_status, " term_signal=", term_signal,
                      " timed_out=", timed_out, " outer_net=", outer_net, "\n--- stdout ---\n",
                      out.substr(0, 4000), "\n--- stderr ---\n", err.substr(0, 4000),
                      "\n--- audit (", audit.size(), " records) ---\n", audit_text.substr(0, 3000));
}

std::string StringField(const audit::JsonValue& record, const std::string& key) {
  const audit::JsonValue* value = record.Find(key);
  return value != nullptr && value->is_string() ? value->string_value() : "";
}

int64_t IntField(const audit::JsonValue& record, const std::string& key, int64_t fallback) {
  const audit::JsonValue* value = record.Find(key);
  int64_t out = fallback;
  if (value == nullptr || !value->is_number() || !value->ToInt64(&out)) return fallback;
  return out;
}

bool HasField(const audit::JsonValue& record, const std::string& key) {
  return record.Find(key) != nullptr;
}

bool ProcessGone(pid_t pid) { return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH; }

bool WaitProcessGone(pid_t pid, absl::Duration timeout) {
  int fd = PidfdOpen(pid);
  if (fd < 0) return errno == ESRCH;
  struct pollfd poll_fd {
    fd, POLLIN, 0
  };
  const absl::Time deadline = absl::Now() + timeout;
  int ready;
  do {
    ready = poll(&poll_fd, 1, PollMs(deadline));
  } while (ready < 0 && errno == EINTR);
  close(fd);
  return ready > 0;
}

std::vector<std::string> LeftoverCgroups(pid_t launcher_pid) {
  // Every cgroup hierarchy mounted here, combined with every path this process sits at:
  // cordon creates its cgroups under the launcher's own cgroup (inherited from us) or at
  // a hierarchy's root.
  std::vector<std::string> mount_points;
  std::string mountinfo = ReadWholeFile("/proc/self/mountinfo");
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    for (size_t i = 6; i + 1 < fields.size(); ++i) {
      if (fields[i] == "-" && (fields[i + 1] == "cgroup" || fields[i + 1] == "cgroup2")) {
        mount_points.emplace_back(fields[4]);
        break;
      }
    }
  }
  std::vector<std::string> paths = {"/"};
  std::string self = ReadWholeFile("/proc/self/cgroup");
  for (absl::string_view line : absl::StrSplit(self, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() == 3) paths.emplace_back(parts[2]);
  }
  const std::string prefix = absl::StrCat(launcher_pid, ".");
  std::vector<std::string> leftovers;
  for (const std::string& mount : mount_points) {
    for (const std::string& path : paths) {
      std::string dir = absl::StrCat(mount, path == "/" ? "" : path, "/cordon");
      DIR* d = opendir(dir.c_str());
      if (d == nullptr) continue;
      while (struct dirent* entry = readdir(d)) {
        if (absl::StartsWith(entry->d_name, prefix)) {
          leftovers.push_back(absl::StrCat(dir, "/", entry->d_name));
        }
      }
      closedir(d);
    }
  }
  return leftovers;
}

}  // namespace cordon::integration
