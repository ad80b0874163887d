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

audit::AuditRecord PluginAuditor::ViolationRecord(const SeccompViolation& violation,
                                                  const std::string& action) const {
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
  return record;
}

PluginAuditor::WindowKey PluginAuditor::KeyOf(const SeccompViolation& violation) {
  const bool x32 = IsX32SyscallNumber(violation.arch, violation.nr);
  // Unnamed numbers are not told apart: one window (and at most one counted record a second)
  // for all of them, however many a plugin walks through. Each individual record still shows
  // its own nr.
  if (violation.name == kUnknownSyscallName) return {violation.arch, x32, kAnyNumber};
  return {violation.arch, x32, violation.nr};
}

std::map<PluginAuditor::WindowKey, PluginAuditor::ViolationWindow>::iterator
PluginAuditor::WindowFor(const SeccompViolation& violation, absl::Time now) {
  WindowKey key = KeyOf(violation);
  auto it = windows_.find(key);
  if (it != windows_.end()) return it;
  // Full: counted with every other syscall that found no room, in one window.
  if (windows_.size() - windows_.count(kOverflowKey) >= kMaxWindows) {
    key = kOverflowKey;
    it = windows_.find(key);
    if (it != windows_.end()) return it;
  }
  return windows_.emplace(key, ViolationWindow{now, 0, 0, {}, ""}).first;
}

absl::Status PluginAuditor::WriteCounted(const WindowKey& key, ViolationWindow* window) {
  // Arguments and pid are those of the last call counted; `suppressed` the calls beyond it.
  audit::AuditRecord record = ViolationRecord(window->last, window->action);
  record.Set("suppressed", window->suppressed - 1)
      .Set("window_start", TimestampText(window->start));
  // The window counted more than the one syscall the record names.
  if (key == kOverflowKey) {
    record.Set("counted_syscalls", "many");
  } else if (key.nr == kAnyNumber) {
    record.Set("counted_syscalls", kUnknownSyscallName);
  }
  window->suppressed = 0;
  --pending_;
  return Append(record);
}

absl::Status PluginAuditor::RecordViolation(const SeccompViolation& violation,
                                            const std::string& action) {
  // A foreign ABI's call is a different thing from the native syscall of the same name (it is
  // always killed, never allowed), so it is counted under its own key, e.g. "getpid (x32)".
  ++violation_counts_[violation.arch_name == "x86_64" || violation.arch_name == "aarch64"
                          ? violation.name
                          : absl::StrCat(violation.name, " (", violation.arch_name, ")")];
  const absl::Time now = Now();
  // Old windows go even when nothing is pending (the supervisor then has no tick for them);
  // at most once a second, so a burst does not walk the map on every call.
  if (now - last_sweep_ >= absl::Seconds(1)) {
    if (absl::Status swept = FlushViolationCounts(/*all=*/false); !swept.ok()) return swept;
  }
  auto it = WindowFor(violation, now);
  ViolationWindow& window = it->second;
  if (now - window.start >= absl::Seconds(1)) {
    absl::Status flushed =
        window.suppressed > 0 ? WriteCounted(it->first, &window) : absl::OkStatus();
    window = ViolationWindow{now, 0, 0, {}, ""};
    if (!flushed.ok()) return flushed;
  }
  if (now - individual_start_ >= absl::Seconds(1)) {
    individual_start_ = now;
    individual_recorded_ = 0;
  }
  // A kill is always recorded on its own: it ends the plugin.
  if (action == "kill" || (window.recorded < kIndividualViolationsPerSecond &&
                           individual_recorded_ < kIndividualViolationsPerSecondTotal)) {
    ++window.recorded;
    ++individual_recorded_;
    return Append(ViolationRecord(violation, action));
  }
  if (window.suppressed++ == 0) ++pending_;
  window.last = violation;
  window.action = action;
  return absl::OkStatus();
}

absl::Status PluginAuditor::FlushViolationCounts(bool all) {
  const absl::Time now = Now();
  last_sweep_ = now;
  absl::Status first_error;
  for (auto it = windows_.begin(); it != windows_.end();) {
    const bool closed = now - it->second.start >= absl::Seconds(1);
    if (it->second.suppressed > 0 && (all || closed)) {
      absl::Status written = WriteCounted(it->first, &it->second);
      if (!written.ok() && first_error.ok()) first_error = written;
    }
    // A closed window holds nothing more: a later call of its syscall starts a new one.
    it = closed ? windows_.erase(it) : std::next(it);
  }
  return first_error;
}

absl::Status PluginAuditor::RecordQuota(const std::string& quota, uint64_t limit,
                                        std::optional<uint64_t> observed, const std::string& action,
                                        const std::string& detail) {
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
    record.Set("signal_name",
               std::string(sigabbrev_np(exit.signal()) ? sigabbrev_np(exit.signal()) : "?"));
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
