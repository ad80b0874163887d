#include "audit/json_escape.h"

#include <cstdint>

#include "base/utf8.h"

namespace cordon::audit {
namespace {

constexpr char kHex[] = "0123456789abcdef";

using base::Utf8SequenceLength;

void AppendUnicodeEscape(std::string* out, uint32_t cp) {
  out->append("\\u");
  out->push_back(kHex[(cp >> 12) & 0xf]);
  out->push_back(kHex[(cp >> 8) & 0xf]);
  out->push_back(kHex[(cp >> 4) & 0xf]);
  out->push_back(kHex[cp & 0xf]);
}

}  // namespace

bool AppendJsonString(std::string* out, std::string_view s) {
  bool clean = true;
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      // Fast path: copy the run of plain printable ASCII at once.
      size_t j = i + 1;
      while (j < s.size()) {
        const auto d = static_cast<uint8_t>(s[j]);
        if (d < 0x20 || d >= 0x7f || d == '"' || d == '\\') break;
        ++j;
      }
      out->append(s.data() + i, j - i);
      i = j;
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        ++i;
        continue;
      case '\\':
        out->append("\\\\");
        ++i;
        continue;
      case '\n':
        out->append("\\n");
        ++i;
        continue;
      case '\r':
        out->append("\\r");
        ++i;
        continue;
      case '\t':
        out->append("\\t");
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      AppendUnicodeEscape(out, c);
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(s, i);
    if (len == 0) {
      out->append("\xef\xbf\xbd");  // U+FFFD
      clean = false;
      ++i;
      continue;
    }
    // U+2028/U+2029 end a line for some JSON consumers (JavaScript); keep them escaped.
    if (len == 3 && c == 0xe2 && static_cast<uint8_t>(s[i + 1]) == 0x80 &&
        (static_cast<uint8_t>(s[i + 2]) == 0xa8 || static_cast<uint8_t>(s[i + 2]) == 0xa9)) {
      AppendUnicodeEscape(out, static_cast<uint8_t>(s[i + 2]) == 0xa8 ? 0x2028 : 0x2029);
      i += 3;
      continue;
    }
    // C1 control characters (U+0080..U+009F) can act as terminal controls.
    if (len == 2 && c == 0xc2 && static_cast<uint8_t>(s[i + 1]) < 0xa0) {
      AppendUnicodeEscape(out, static_cast<uint8_t>(s[i + 1]));
      i += 2;
      continue;
    }
    out->append(s.data() + i, len);
    i += len;
  }
  out->push_back('"');
  return clean;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = Utf8SequenceLength(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string HexEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto b = static_cast<uint8_t>(ch);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

}  // namespace cordon::audit
