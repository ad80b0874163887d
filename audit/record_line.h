#ifndef CORDON_AUDIT_RECORD_LINE_H_
#define CORDON_AUDIT_RECORD_LINE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/json_value.h"

namespace cordon::audit {

// One record read back from a log file.
struct ParsedRecord {
  uint64_t seq = 0;
  std::string ts;  // RFC 3339, UTC, 9 fractional digits
  std::string type;
  std::string prev;
  std::string hash;
  std::string plugin_id;
  std::string plugin_name;
  std::string decision;
  JsonValue json;  // the whole record
};

// The on-disk line format shared by the writer and every reader. A record line is
//   {"seq":N,"ts":"...","type":"...",...,"prev":"<64 hex>","hash":"<64 hex>"}
// and the chain hash covers the canonical bytes: the line up to, not including, the final
// `,"hash":"`. Hashing the bytes as written (not a re-serialisation) means a verifier never
// depends on JSON formatting details to reproduce the hash.
class RecordLine {
 public:
  // Bytes of `,"hash":"` + 64 hex + `"}`.
  static constexpr size_t kHashSuffixLength = 9 + 64 + 2;
  // Largest line the writer produces; readers refuse longer lines.
  static constexpr size_t kMaxLineBytes = 64 * 1024;

  // Splits `line` (without its newline) into the canonical prefix and the stored hash.
  static absl::Status Split(std::string_view line, std::string_view* canonical,
                            std::string_view* hash);
  // Parses `line` into its envelope fields; does not check the hash.
  static absl::StatusOr<ParsedRecord> Parse(std::string_view line);
  // Formats `t` as 2026-01-02T03:04:05.123456789Z.
  static void AppendTimestamp(std::string* out, absl::Time t);
  static void AppendTimestamp(std::string* out, int64_t sec, int64_t nsec);
  // Accepts RFC 3339 (any fraction, Z or offset), or a plain date YYYY-MM-DD.
  static absl::StatusOr<absl::Time> ParseTimestamp(std::string_view text);
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_RECORD_LINE_H_
