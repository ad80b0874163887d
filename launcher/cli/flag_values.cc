#include "launcher/cli/flag_values.h"

#include <cctype>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cordon::cli {
namespace {

absl::StatusOr<uint64_t> ParseScaled(const std::string& flag, const std::string& text,
                                     const std::vector<std::pair<std::string, uint64_t>>& units,
                                     uint64_t bare_unit, const char* example) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  uint64_t number = 0;
  if (digits == 0 || !absl::SimpleAtoi(text.substr(0, digits), &number)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", text, "' is not a number; write e.g. ", example));
  }
  std::string suffix = text.substr(digits);
  uint64_t unit = bare_unit;
  if (!suffix.empty()) {
    bool found = false;
    for (const auto& [name, value] : units) {
      if (suffix == name) {
        unit = value;
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": unknown unit '", suffix, "' in '", text, "'; write e.g. ", example));
    }
  }
  if (number > std::numeric_limits<uint64_t>::max() / unit) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", text, "' is too large"));
  }
  return number * unit;
}

}  // namespace

absl::StatusOr<uint64_t> ParseByteSize(const std::string& flag, const std::string& text) {
  return ParseScaled(flag, text,
                     {{"k", 1ull << 10}, {"K", 1ull << 10}, {"M", 1ull << 20}, {"m", 1ull << 20},
                      {"G", 1ull << 30}, {"g", 1ull << 30}, {"B", 1}},
                     1, "64M");
}

absl::StatusOr<uint64_t> ParseDurationMs(const std::string& flag, const std::string& text) {
  return ParseScaled(flag, text, {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}}, 1000,
                     "30s");
}

}  // namespace cordon::cli
