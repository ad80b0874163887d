#ifndef CORDON_AUDIT_JSON_VALUE_H_
#define CORDON_AUDIT_JSON_VALUE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace cordon::audit {

// A parsed JSON value, enough for reading audit records back. Objects keep their key order
// because the record layout is fixed and tools print fields in the order they were written.
class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  // Parses exactly one JSON value (surrounding whitespace allowed). Depth and size are capped
  // because a log file under review may have been written by an attacker.
  static absl::StatusOr<JsonValue> Parse(std::string_view text);

  Kind kind() const { return kind_; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_array() const { return kind_ == Kind::kArray; }

  bool bool_value() const { return bool_; }
  // For numbers: the literal text as written (exact for 64-bit integers).
  const std::string& string_value() const { return string_; }
  double number_value() const;
  // Integer value of a number; false if not an integer in range.
  bool ToUint64(uint64_t* out) const;
  bool ToInt64(int64_t* out) const;

  const std::vector<JsonValue>& array() const { return array_; }
  const std::vector<std::pair<std::string, JsonValue>>& object() const { return object_; }
  // First member named `key`, or nullptr.
  const JsonValue* Find(std::string_view key) const;

  // Compact text form, e.g. for table cells ("a", 1, [..]).
  std::string ToText() const;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  std::string string_;
  std::vector<JsonValue> array_;
  std::vector<std::pair<std::string, JsonValue>> object_;
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_JSON_VALUE_H_
