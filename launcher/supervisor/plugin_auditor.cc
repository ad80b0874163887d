#include "launcher/supervisor/plugin_auditor.h"

#include <sys/wait.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "audit/record_line.h"
#include "launcher/sandbox/landlock_rules.h"

namespace cordon::supervisor {

PluginAuditor::PluginAuditor(audit::AuditLog* log, PluginIdentity identity)
    : log_(log), identity_(std::move(identity)) {}

absl::Status PluginAuditor::Append(const audit::AuditRecord& record) {
  if (log_ == nullptr) return absl::OkStatus();
  return log_->Append(record);
}

absl::Status PluginAuditor::RecordStart(const PluginStartInfo& info, const std::string& type) {
  identity_.host_pid = info.host_pid;
  audit::AuditRecord record(type);
  record.SetPlugin(identity_);
  audit::AuditRecord uid_map("uid_map");
  uid_map.Set("sandbox_uid", static_cast<uint64_t>(info.sandbox_uid))
      .Set("host_uid", static_cast<uint64_t>(info.host_uid));
  record.Set("profile", info.profile)
      .Set("program", info.program)
      .SetStrings("argv", info.argv)
      .Set("host_pid", static_cast<int64_t>(info.host_pid))
      .SetObject("uid_map", uid_map)
      .Set("quota_backend", info.quota_backend)
      .Set("rootless", info.rootless)
      .Set("seccomp_cached", info.seccomp_cached)
      // 0: the kernel has no Landlock, so fds can be reopened through /proc/self/fd with
      // whatever the file's mode bits allow (docs/security.md).
      .Set("landlock_abi", static_cast<int64_t>(sandbox::LandlockAbi()));
  if (!info.seccomp_notes.empty()) record.SetStrings("seccomp_notes", info.seccomp_notes);
  if (!info.unenforced_quotas.empty()) {
    record.SetStrings("unenforced_quotas", info.unenforced_quotas);
  }
  if (!info.quota_notes.empty()) record.SetStrings("quota_notes", info.quota_notes);
  return Append(record);
}

namespace {
// `window_start` in the same fixed-width UTC form as every record's `ts`.
std::string TimestampText(absl::Time t) {
  std::string text;
  audit::RecordLine::AppendTimestamp(&text, t);
  return text;
}
}  // namespace

absl::Status PluginAuditor::WriteViolation(const SeccompViolation& violation,
                                           const std::string& action, uint64_t suppressed,
                                           absl::Time window_start) {
  audit::AuditRecord record("seccomp.violation");
  record.SetPlugin(identity_);
  record.SetDecision("deny");
  std::vector<uint64_t> args(violation.args.begin(), violation.args.end());
  record.Set("syscall", violation.name)
      .Set("nr", static_cast<int64_t>(violation.nr))
      .Set("arch", violation.arch_name)
      .SetInts("args", args)
      .Set("host_pid", static_cast<int64_t>(violation.pid))
      .Set("ip", violation.instruction_pointer)
      .Set("action", action);
  if (suppressed > 0) {
    // Arguments and pid are those of the last call counted.
    record.Set("suppressed", suppressed).Set("window_start", TimestampText(window_start));
  }
  return Append(record);
}

absl::Status PluginAuditor::RecordViolation(const SeccompViolation& violation,
                                            const std::string& action) {
  // A foreign ABI's call is a different thing from the native syscall of the same name (it is
  // always killed, never allowed), so it is counted under its own key, e.g. "getpid (x32)".
  ++violation_counts_[violation.arch_name == "x86_64" || violation.arch_name == "aarch64"
                          ? violation.name
                          : absl::StrCat(violation.name, " (", violation.arch_name, ")")];
  absl::Time now = absl::Now();
  const SyscallKey key{violation.arch, violation.nr};
  ViolationWindow& window = windows_[key];
  if (now - window.start >= absl::Seconds(1)) {
    if (window.suppressed > 0) {
      absl::Status flushed =
          WriteViolation(window.last, window.action, window.suppressed - 1, window.start);
      pending_.erase(key);
      if (!flushed.ok()) return flushed;
    }
    window = ViolationWindow{now, 0, 0, {}, ""};
  }
  // A kill is always recorded on its own: it ends the plugin.
  if (window.recorded < kIndividualViolationsPerSecond || action == "kill") {
    ++window.recorded;
    return WriteViolation(violation, action, 0, now);
  }
  ++window.suppressed;
  window.last = violation;
  window.action = action;
  pending_[key] = true;
  return absl::OkStatus();
}

absl::Status PluginAuditor::FlushViolationCounts(bool all) {
  absl::Time now = absl::Now();
  absl::Status first_error;
  for (auto it = pending_.begin(); it != pending_.end();) {
    ViolationWindow& window = windows_[it->first];
    if (!all && now - window.start < absl::Seconds(1)) {
      ++it;
      continue;
    }
    absl::Status written =
        WriteViolation(window.last, window.action, window.suppressed - 1, window.start);
    if (!written.ok() && first_error.ok()) first_error = written;
    window.suppressed = 0;
    it = pending_.erase(it);
  }
  return first_error;
}

absl::Status PluginAuditor::RecordQuota(const std::string& quota, uint64_t limit,
                                        std::optional<uint64_t> observed,
                                        const std::string& action, const std::string& detail) {
  audit::AuditRecord record("quota.violation");
  record.SetPlugin(identity_);
  record.SetDecision("deny");
  record.Set("quota", quota).Set("limit", limit).Set("action", action);
  if (observed.has_value()) record.Set("observed", *observed);
  if (!detail.empty()) record.Set("detail", detail);
  return Append(record);
}

absl::Status PluginAuditor::RecordLifecycle(
    const std::string& type, const std::vector<std::pair<std::string, std::string>>& fields) {
  audit::AuditRecord record(type);
  record.SetPlugin(identity_);
  for (const auto& [key, value] : fields) record.Set(key, value);
  return Append(record);
}

absl::Status PluginAuditor::RecordProtocolViolation(const std::string& type,
                                                    const std::string& kind,
                                                    const std::string& detail) {
  audit::AuditRecord record(type);
  record.SetPlugin(identity_);
  record.SetDecision("deny");
  if (type == "quota.violation") {
    record.Set("quota", kind);
  } else {
    record.Set("violation", kind);
  }
  record.Set("detail", detail).Set("action", "killed");
  return Append(record);
}

absl::Status PluginAuditor::RecordSetupFailure(const std::string& reason) {
  audit::AuditRecord record("plugin.exit");
  record.SetPlugin(identity_);
  record.Set("setup_failed", true).Set("reason", reason);
  return Append(record);
}

absl::Status PluginAuditor::RecordExit(const sandbox::ExitInfo& exit, uint64_t peak_memory_bytes,
                                       const std::string& reason) {
  if (absl::Status flushed = FlushViolationCounts(/*all=*/true); !flushed.ok()) return flushed;
  audit::AuditRecord record("plugin.exit");
  record.SetPlugin(identity_);
  if (exit.exited()) {
    record.Set("exit_code", exit.exit_code());
  } else {
    record.Set("signal", exit.signal());
    record.Set("signal_name", std::string(sigabbrev_np(exit.signal()) ? sigabbrev_np(exit.signal()) : "?"));
  }
  record.Set("wall_ms", static_cast<int64_t>(absl::ToInt64Milliseconds(exit.wall_time)))
      .Set("cpu_ms", static_cast<int64_t>(absl::ToInt64Milliseconds(exit.cpu_time)))
      .Set("peak_memory_bytes", peak_memory_bytes);
  if (!reason.empty()) record.Set("reason", reason);
  uint64_t total = 0;
  for (const auto& [name, count] : violation_counts_) total += count;
  record.Set("seccomp_violations", total);
  return Append(record);
}

}  // namespace cordon::supervisor
