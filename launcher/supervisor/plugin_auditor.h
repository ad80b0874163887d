#ifndef CORDON_LAUNCHER_SUPERVISOR_PLUGIN_AUDITOR_H_
#define CORDON_LAUNCHER_SUPERVISOR_PLUGIN_AUDITOR_H_

#include <sys/types.h>

#include <cstdint>
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
  // The first kIndividualViolationsPerSecond violations of one syscall (one number of one
  // ABI: unknown numbers are not lumped together under their common name) in each one-second
  // window get a record each, written before the syscall is answered. Beyond that, a burst
  // is counted: one record per syscall per window shows the last such call and carries
  // "suppressed": N, the number of further calls it stands for; it is written when the window
  // closes, on the next violation or before plugin.exit. Nothing is dropped, and a plugin cannot
  // grow the log without bound.
  static constexpr uint64_t kIndividualViolationsPerSecond = 100;
  absl::Status RecordViolation(const SeccompViolation& violation, const std::string& action);
  // Writes the counted records of windows older than a second (all of them when `all`).
  absl::Status FlushViolationCounts(bool all);
  bool has_pending_counts() const { return !pending_.empty(); }
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
  absl::Status WriteViolation(const SeccompViolation& violation, const std::string& action,
                              uint64_t suppressed, absl::Time window_start);

  // (AUDIT_ARCH_*, nr as the caller passed it, x32 bit included).
  using SyscallKey = std::pair<uint32_t, int32_t>;

  audit::AuditLog* log_;
  PluginIdentity identity_;
  std::map<std::string, uint64_t> violation_counts_;
  std::map<SyscallKey, ViolationWindow> windows_;
  // Syscalls whose window holds suppressed calls not yet written.
  std::map<SyscallKey, bool> pending_;
};

}  // namespace cordon::supervisor

#endif  // CORDON_LAUNCHER_SUPERVISOR_PLUGIN_AUDITOR_H_
