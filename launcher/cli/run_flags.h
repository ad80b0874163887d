#ifndef CORDON_LAUNCHER_CLI_RUN_FLAGS_H_
#define CORDON_LAUNCHER_CLI_RUN_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cordon::cli {

struct BindFlag {
  std::string source;
  std::string destination;
  bool writable = false;
};

// Quota overrides from the command line; unset fields keep the profile's value.
struct QuotaFlags {
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> pids;
  std::optional<uint64_t> cpu_time_seconds;
  std::optional<uint32_t> cpu_rate_percent;
  std::optional<uint64_t> wall_time_ms;
  std::optional<uint64_t> open_files;
  std::optional<uint64_t> file_size_bytes;
  std::optional<uint64_t> tmp_size_bytes;
};

// The parsed command line of `cordon run`.
struct RunFlags {
  std::string profile = "default";
  std::string audit_log;
  std::vector<BindFlag> binds;
  std::vector<std::string> env;
  QuotaFlags quotas;
  bool help = false;
  std::vector<std::string> command;  // PROGRAM [ARG...]

  // Parses the arguments after "run". Errors name the flag and the expected form.
  static absl::StatusOr<RunFlags> Parse(const std::vector<std::string>& args);
  static const char* Usage();
};

// Parses "64M", "1G", "512k", "4096" (bytes, binary multiples).
absl::StatusOr<uint64_t> ParseByteSize(const std::string& flag, const std::string& text);
// Parses "30s", "500ms", "2m", "1h" into milliseconds; a bare number means seconds.
absl::StatusOr<uint64_t> ParseDurationMs(const std::string& flag, const std::string& text);

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_RUN_FLAGS_H_
