#include "launcher/cli/audit_log_flags.h"

#include "absl/strings/str_cat.h"
#include "launcher/cli/flag_values.h"

namespace cordon::cli {

bool AuditLogFlags::Handles(const std::string& flag) {
  return flag == "--audit-log" || flag == "--audit-sync" || flag == "--audit-key-file" ||
         flag == "--audit-rotate-size" || flag == "--audit-rotate-age" ||
         flag == "--audit-on-failure";
}

absl::Status AuditLogFlags::Set(const std::string& flag, const std::string& value) {
  if (flag == "--audit-log") {
    if (value.empty()) return absl::InvalidArgumentError("--audit-log: expected a file path");
    options_.path = value;
    return absl::OkStatus();
  }
  shaped_ = true;
  if (flag == "--audit-sync") {
    options_.durability = audit::Durability::kSync;
  } else if (flag == "--audit-key-file") {
    if (value.empty()) return absl::InvalidArgumentError("--audit-key-file: expected a file path");
    options_.hmac_key_file = value;
  } else if (flag == "--audit-rotate-size") {
    absl::StatusOr<uint64_t> bytes = ParseByteSize(flag, value);
    if (!bytes.ok()) return bytes.status();
    if (*bytes == 0) return absl::InvalidArgumentError("--audit-rotate-size: must be above 0");
    options_.rotate_bytes = *bytes;
  } else if (flag == "--audit-rotate-age") {
    absl::StatusOr<uint64_t> ms = ParseDurationMs(flag, value);
    if (!ms.ok()) return ms.status();
    if (*ms == 0) return absl::InvalidArgumentError("--audit-rotate-age: must be above 0");
    options_.rotate_age = absl::Milliseconds(*ms);
  } else if (flag == "--audit-on-failure") {
    if (value == "deny") {
      options_.on_failure = audit::OnWriteFailure::kDenyRequests;
    } else if (value == "kill") {
      options_.on_failure = audit::OnWriteFailure::kKillPlugins;
    } else if (value == "stop") {
      options_.on_failure = audit::OnWriteFailure::kStopLauncher;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--audit-on-failure '", value, "': expected deny, kill or stop (see --help)"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown audit flag '", flag, "'"));
  }
  return absl::OkStatus();
}

absl::Status AuditLogFlags::Validate() const {
  if (shaped_ && !enabled()) {
    return absl::InvalidArgumentError(
        "--audit-sync, --audit-key-file, --audit-rotate-* and --audit-on-failure need "
        "--audit-log PATH");
  }
  return absl::OkStatus();
}

const char* AuditLogFlags::Help() {
  return R"(  --audit-log PATH      append JSON Lines audit records to PATH (hash-chained; see
                        docs/audit.md).
  --audit-sync          durability "sync": fdatasync each record before the action it
                        records (default "batch": written before the action, fdatasync'd
                        within 200 ms; see docs/audit.md for the loss window).
  --audit-key-file FILE chain the records with HMAC-SHA256 under this key.
  --audit-rotate-size SIZE  rotate the log at this size, e.g. 64M (the chain continues).
  --audit-rotate-age DURATION  rotate the log when its active file is this old, e.g. 24h.
  --audit-on-failure deny|kill|stop  when a record cannot be written: deny what would be
                        recorded and keep running, kill the plugin(s) (default), or kill
                        them and stop cordon.
)";
}

}  // namespace cordon::cli
