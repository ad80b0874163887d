#ifndef CORDON_LAUNCHER_CLI_FLAG_VALUES_H_
#define CORDON_LAUNCHER_CLI_FLAG_VALUES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

// Value parsers shared by every subcommand's flags; errors name the flag and show an example.
namespace cordon::cli {

// Parses "64M", "1G", "512k", "4096" (bytes, binary multiples).
absl::StatusOr<uint64_t> ParseByteSize(const std::string& flag, const std::string& text);
// Parses "30s", "500ms", "2m", "1h" into milliseconds; a bare number means seconds.
absl::StatusOr<uint64_t> ParseDurationMs(const std::string& flag, const std::string& text);

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_FLAG_VALUES_H_
