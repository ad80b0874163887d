#ifndef CORDON_LAUNCHER_SUPERVISOR_PLUGIN_AUDITOR_H_
#define CORDON_LAUNCHER_SUPERVISOR_PLUGIN_AUDITOR_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "launcher/sandbox/sandbox_process.h"
#include "launcher/supervisor/seccomp_notifier.h"

namespace cordon::supervisor {

// RecordStart sets host_pid; every record written after it carries the pid.
using PluginIdentity = audit::PluginIdentity;

struct PluginStartInfo {
  std::string profile;
  std::string program;
  std::vector<std::string> argv;
  pid_t host_pid = 0;
  uint32_t sandbox_uid = 0;
  uint32_t host_uid = 0;
  std::string quota_backend;  // e.g. "cgroup v1 (...)" or "rlimits"
  bool rootless = false;
  // The seccomp program came from the compiled cache (profiles::CompiledCache).
  bool seccomp_cached = false;
  // Why the compiled-program cache could not be used, when it could not (the start compiled
  // its program instead): recorded, since a host library has no stderr of its own to say it.
  std::vector<std::string> seccomp_notes;
  // Quotas the profile or flags set that this backend cannot enforce (e.g. "cpu_rate" without
  // a cgroup), and notes about the quota setup (e.g. a failed stale-cgroup sweep). Written
  // only when non-empty; the same words go to stderr.
  std::vector<std::string> unenforced_quotas;
  std::vector<std::string> quota_notes;
};

// Writes the audit records of one plugin's life (plugin.start, seccomp.violation,
// quota.violation, plugin.exit). Each method returns only after the record is in the log, so
// the caller performs the recorded action afterwards. Without a log it only counts.
class PluginAuditor {
 public:
  PluginAuditor(audit::AuditLog* log, PluginIdentity identity);

  // type: "plugin.start" (cordon run) or "plugin.spawn" (a plugin's lifecycle).
  absl::Status RecordStart(const PluginStartInfo& info, const std::string& type = "plugin.start");
  // Rate limit of seccomp.violation (docs/audit.md): calls are counted in one-second windows,
  // one per syscall. A syscall is one named number of one ABI; every number without a name
  // ("unknown") of one ABI shares a single window, so walking the number space costs a plugin
  // one window, not one per number. The first kIndividualViolationsPerSecond calls of a window
  // get a record each, written before the syscall is answered, as long as the plugin's
  // kIndividualViolationsPerSecondTotal in the current second are not used up; a kill always
  // gets its own. Beyond that, calls are counted: one record per window shows the last such
  // call and carries "suppressed": N, the number of further calls it stands for; it is written
  // when the window closes, on a later violation or the supervisor's tick, or before
  // plugin.exit. At most kMaxWindows windows exist at once (a window is dropped once it is
  // over a second old and written); calls of a syscall that finds no room are counted in one
  // overflow window. Nothing is dropped, and a plugin causes at most
  // kIndividualViolationsPerSecondTotal + kMaxWindows + 1 records a second (plus the kill that
  // ends it), in the launcher's memory at most kMaxWindows + 1 windows.
  static constexpr uint64_t kIndividualViolationsPerSecond = 100;
  static constexpr uint64_t kIndividualViolationsPerSecondTotal = 1000;
  // Above the named syscalls an ABI has (x86_64: under 400), so the overflow is only a net.
  static constexpr size_t kMaxWindows = 1024;
  absl::Status RecordViolation(const SeccompViolation& violation, const std::string& action);
  // Writes the counted records of windows older than a second and drops those windows (with
  // `all`: writes every counted record, e.g. before plugin.exit).
  absl::Status FlushViolationCounts(bool all);
  bool has_pending_counts() const { return pending_ > 0; }
  // Windows held (overflow included): what bounds the memory a plugin's violations cost.
  size_t violation_window_count() const { return windows_.size(); }
  // The time windows are measured by; unset: absl::Now. Lets tests step time.
  void set_clock_for_testing(std::function<absl::Time()> clock) { clock_ = std::move(clock); }
  absl::Status RecordQuota(const std::string& quota, uint64_t limit,
                           std::optional<uint64_t> observed, const std::string& action,
                           const std::string& detail);
  // A lifecycle transition, e.g. type "plugin.ready"; fields are added as strings.
  absl::Status RecordLifecycle(const std::string& type,
                               const std::vector<std::pair<std::string, std::string>>& fields);
  // A hostile or broken channel: type is "protocol.violation" or "quota.violation".
  absl::Status RecordProtocolViolation(const std::string& type, const std::string& kind,
                                       const std::string& detail);
  // The sandbox failed to start after plugin.start was written: a plugin.exit with the reason.
  absl::Status RecordSetupFailure(const std::string& reason);
  absl::Status RecordExit(const sandbox::ExitInfo& exit, uint64_t peak_memory_bytes,
                          const std::string& reason);

  // Violations per syscall name, for the one-line summary printed at exit; a foreign ABI's
  // calls are keyed "NAME (ARCH)", e.g. "getpid (x32)".
  const std::map<std::string, uint64_t>& violation_counts() const { return violation_counts_; }
  bool has_log() const { return log_ != nullptr; }
  // The plugin object of this plugin's records (host_pid set once RecordStart ran).
  const PluginIdentity& identity() const { return identity_; }
  // What the log's owner configured for a failed write (deny requests, kill plugins, stop the
  // launcher); kill when there is no log.
  audit::OnWriteFailure failure_policy() const {
    return log_ != nullptr ? log_->on_failure() : audit::OnWriteFailure::kKillPlugins;
  }

 private:
  absl::Status Append(const audit::AuditRecord& record);

  struct ViolationWindow {
    absl::Time start;
    uint64_t recorded = 0;
    uint64_t suppressed = 0;
    SeccompViolation last;
    std::string action;
  };
  // What a window counts: one named syscall (arch, nr as the caller passed it, x32 bit
  // included), every unknown number of one ABI (nr kAnyNumber), or the overflow (arch 0, which
  // no call has).
  struct WindowKey {
    uint32_t arch = 0;
    bool x32 = false;
    int64_t nr = 0;
    auto operator<=>(const WindowKey&) const = default;
  };
  static constexpr int64_t kAnyNumber = INT64_MIN;
  static constexpr WindowKey kOverflowKey{0, false, kAnyNumber};
  static WindowKey KeyOf(const SeccompViolation& violation);

  absl::Time Now() const { return clock_ ? clock_() : absl::Now(); }
  // The window `violation` is counted in, made when missing (the overflow when full).
  std::map<WindowKey, ViolationWindow>::iterator WindowFor(const SeccompViolation& violation,
                                                           absl::Time now);
  // Writes a window's counted record and empties it.
  absl::Status WriteCounted(const WindowKey& key, ViolationWindow* window);
  // An individual record of `violation`; a counted one adds its window's fields.
  audit::AuditRecord ViolationRecord(const SeccompViolation& violation,
                                     const std::string& action) const;

  audit::AuditLog* log_;
  PluginIdentity identity_;
  std::function<absl::Time()> clock_;
  std::map<std::string, uint64_t> violation_counts_;
  std::map<WindowKey, ViolationWindow> windows_;
  size_t pending_ = 0;  // windows holding suppressed calls not yet written
  absl::Time last_sweep_ = absl::InfinitePast();
  // Individual records of every window in the current second.
  absl::Time individual_start_ = absl::InfinitePast();
  uint64_t individual_recorded_ = 0;
};

}  // namespace cordon::supervisor

#endif  // CORDON_LAUNCHER_SUPERVISOR_PLUGIN_AUDITOR_H_
