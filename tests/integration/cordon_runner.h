#ifndef CORDON_TESTS_INTEGRATION_CORDON_RUNNER_H_
#define CORDON_TESTS_INTEGRATION_CORDON_RUNNER_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/json_value.h"
#include "tests/integration/outer_cgroup.h"

namespace cordon::integration {

// How to start one `cordon run`.
struct RunOptions {
  // The subcommand words after "cordon", e.g. {"profile", "learn"}.
  std::vector<std::string> subcommand = {"run"};
  // Everything after the subcommand except --audit-log, e.g. {"--profile", "minimal", "--",
  // probe, "status"}.
  std::vector<std::string> args;
  // Written to a file that becomes cordon's stdin; /dev/null when empty and stdin_fd < 0.
  std::string stdin_data;
  // A caller-owned fd to use as stdin (and stdout/stderr stay pipes), e.g. a pty.
  int stdin_fd = -1;
  // Make stdin_fd the controlling terminal of cordon (setsid + TIOCSCTTY) before exec.
  bool stdin_is_ctty = false;
  // Host fds leaked into cordon without CLOEXEC: {fd in this process, fd number in cordon}.
  std::vector<std::pair<int, int>> leak_fds;
  // Prefix the command (e.g. setpriv --reuid=65534 ...).
  std::vector<std::string> wrapper;
  // Another cordon binary (a copy reachable by an unprivileged user); default: the build's.
  std::string cordon_path;
  // Pass --audit-log in a fresh temp dir and parse it afterwards.
  bool audit = true;
  // Owner for the audit directory (rootless runs must be able to create the log).
  std::optional<uid_t> audit_dir_owner;
  // Outer safety net: cordon (and everything it starts) is killed with SIGKILL after this.
  absl::Duration timeout = absl::Seconds(20);
  // Outer safety net: cordon runs in a cgroup of the harness's own with these limits (set
  // them above the quota under test), plus rlimits (SetOuterRlimits); README.md.
  OuterLimits outer;
};

struct RunResult {
  int exit_status = -1;  // cordon's exit status when it exited
  int term_signal = 0;   // when cordon itself died of a signal
  bool timed_out = false;
  pid_t cordon_pid = -1;
  std::string out;
  std::string err;
  std::string audit_path;
  std::string audit_text;
  std::vector<audit::JsonValue> audit;  // parsed records, in file order
  std::string audit_error;              // non-empty when a line did not parse
  // The harness's outer net: what it was ("cgroup v1 (...) /sys/...", or why there was only
  // the rlimits), and what cordon left in it (plugin cgroups, processes) before the harness
  // killed and removed it. A leftover is a failure (ExpectNoLeftovers), never hidden.
  std::string outer_net;
  std::vector<std::string> outer_leftovers;

  // Records of one type, in order.
  std::vector<const audit::JsonValue*> Records(const std::string& type) const;
  // The first record of a type, or nullptr.
  const audit::JsonValue* Record(const std::string& type) const;
  // Lines of stdout starting with `prefix` (e.g. "status ").
  std::vector<std::string> Lines(const std::string& prefix) const;
  // The one stdout line starting with "<check> " (empty when none).
  std::string Line(const std::string& check) const;
  // For probe lines "name key=value ...": the value of key on the first line starting with
  // "name " (empty when absent).
  std::string Field(const std::string& name, const std::string& key) const;
  // plugin.start's host_pid (the sandbox init), or -1.
  pid_t HostPid() const;
  // A summary for failure messages: status, stdout, stderr.
  std::string Describe() const;
};

// A `cordon run` left running (see CordonRunner::Start).
struct RunningCordon {
  pid_t pid = -1;
  int pidfd = -1;
  int out_fd = -1;  // read end of cordon's stdout
  std::string audit_dir;
  std::string audit_path;
  std::shared_ptr<OuterCgroup> outer;  // removed by Finish
};

// Runs the cordon binary as a test would from a shell, with a hard timeout, and reads back
// what it printed and audited.
class CordonRunner {
 public:
  // $CORDON_BUILD_DIR/launcher/cli/cordon.
  static std::string CordonBinary();
  // A probe from tests/programs: name as built, "_static" appended when is_static.
  static std::string Probe(const std::string& name, bool is_static = false);
  // A shipped profile file: $CORDON_SOURCE_DIR/sandbox-profiles/profiles/NAME.textproto.
  static std::string ProfilePath(const std::string& name);

  static RunResult Run(const RunOptions& options);

  // Starts cordon in the background; stdout stays a pipe (RunningCordon::out_fd) so the test
  // can wait for a line the program prints.
  static absl::StatusOr<RunningCordon> Start(const RunOptions& options);
  // Reads cordon's stdout until a line equal to `line` arrives; false on EOF or deadline.
  static bool WaitForLine(const RunningCordon& running, const std::string& line,
                          absl::Duration timeout);
  // Parses a JSON Lines audit file.
  static std::vector<audit::JsonValue> ReadAudit(const std::string& path, std::string* error);
  // Kills (if still running), reaps and closes a background run; removes its audit dir.
  static void Finish(RunningCordon* running);
};

// Small accessors for audit records.
std::string StringField(const audit::JsonValue& record, const std::string& key);
int64_t IntField(const audit::JsonValue& record, const std::string& key, int64_t fallback = -1);
bool HasField(const audit::JsonValue& record, const std::string& key);

// Leftover checks after a run: true when no process with the pid exists any more.
bool ProcessGone(pid_t pid);
// Waits on a pidfd for `pid` to exit, at most `timeout`; true when it is gone. Works for
// processes that are not our children.
bool WaitProcessGone(pid_t pid, absl::Duration timeout);
// Directories named after the launcher (pid) left under any cgroup hierarchy's cordon/.
std::vector<std::string> LeftoverCgroups(pid_t launcher_pid);

}  // namespace cordon::integration

#endif  // CORDON_TESTS_INTEGRATION_CORDON_RUNNER_H_
