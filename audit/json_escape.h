#ifndef CORDON_AUDIT_JSON_ESCAPE_H_
#define CORDON_AUDIT_JSON_ESCAPE_H_

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace cordon::audit {

// Appends `s` to `out` as a quoted JSON string. Untrusted input is made inert: every
// control character (including DEL, U+2028 and U+2029) becomes a \uXXXX escape, so a record
// can never contain a raw newline, and every byte that is not part of valid UTF-8 becomes
// U+FFFD. Returns false if any byte had to be replaced (the caller may then also record the
// raw bytes in hex so nothing is lost for forensics).
bool AppendJsonString(std::string* out, std::string_view s);

// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

// This absl build keeps its own string_view type, distinct from std::string_view.
inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// Lower-case hex of `bytes`.
std::string HexEncode(std::string_view bytes);

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_JSON_ESCAPE_H_
