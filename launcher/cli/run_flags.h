#ifndef CORDON_LAUNCHER_CLI_RUN_FLAGS_H_
#define CORDON_LAUNCHER_CLI_RUN_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/host/launch_overrides.h"

namespace cordon::cli {

using BindFlag = host::BindMount;
using QuotaFlags = host::QuotaOverrides;

// The parsed command line of `cordon run`.
struct RunFlags {
  std::string profile = "default";
  std::string audit_log;
  bool audit_sync = false;             // --audit-sync: fdatasync before every action
  std::string audit_key_file;          // --audit-key-file: HMAC-SHA256 chain
  uint64_t audit_rotate_bytes = 0;     // --audit-rotate-size
  std::string audit_on_failure = "kill";  // --audit-on-failure deny|kill|stop
  std::string cgroup_parent;
  std::vector<BindFlag> binds;
  std::vector<std::string> env;
  QuotaFlags quotas;
  bool help = false;
  std::vector<std::string> command;  // PROGRAM [ARG...]

  // Parses the arguments after "run". Errors name the flag and the expected form.
  host::LaunchOverrides ToOverrides() const { return {command, env, binds, quotas, cgroup_parent, {}}; }

  static absl::StatusOr<RunFlags> Parse(const std::vector<std::string>& args);
  static const char* Usage();
};

// Parses "64M", "1G", "512k", "4096" (bytes, binary multiples).
absl::StatusOr<uint64_t> ParseByteSize(const std::string& flag, const std::string& text);
// Parses "30s", "500ms", "2m", "1h" into milliseconds; a bare number means seconds.
absl::StatusOr<uint64_t> ParseDurationMs(const std::string& flag, const std::string& text);

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_RUN_FLAGS_H_
