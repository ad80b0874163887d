#ifndef CORDON_LAUNCHER_CLI_AUDIT_LOG_FLAGS_H_
#define CORDON_LAUNCHER_CLI_AUDIT_LOG_FLAGS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "audit/audit_log.h"

namespace cordon::cli {

// The --audit-* flags every subcommand that writes an audit log accepts (cordon run, call and
// serve), so the durability, key, rotation and failure policy can be chosen the same way for
// each: --audit-log PATH, --audit-sync, --audit-key-file FILE, --audit-rotate-size SIZE,
// --audit-rotate-age DURATION, --audit-on-failure deny|kill|stop.
class AuditLogFlags {
 public:
  // True for the flags this class parses; TakesValue says whether one follows.
  static bool Handles(const std::string& flag);
  static bool TakesValue(const std::string& flag) { return flag != "--audit-sync"; }
  // Applies one flag (value ignored for --audit-sync). Errors name the flag and the fix.
  absl::Status Set(const std::string& flag, const std::string& value);
  // Flags that shape a log only make sense with --audit-log: an error names them otherwise.
  absl::Status Validate() const;

  bool enabled() const { return !options_.path.empty(); }
  const std::string& path() const { return options_.path; }
  audit::OnWriteFailure on_failure() const { return options_.on_failure; }
  // The options for audit::AuditLog::Open (the caller adds on_failure_callback if it has one).
  const audit::AuditLogOptions& options() const { return options_; }

  // The help lines for these flags, indented like the subcommands' usage texts.
  static const char* Help();

 private:
  audit::AuditLogOptions options_;
  bool shaped_ = false;  // a flag other than --audit-log was given
};

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_AUDIT_LOG_FLAGS_H_
