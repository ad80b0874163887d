#ifndef CORDON_BASE_UTF8_H_
#define CORDON_BASE_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

// The one UTF-8 decoder both leaf modules need: audit/ escapes untrusted strings into JSON,
// ipc/ makes them safe for proto3 `string` fields. base/ depends on nothing, so neither module
// gains a dependency on the other (docs/architecture.md, "Layout").
namespace cordon::base {

// Length (1-4) of the well-formed UTF-8 sequence starting at s[i], or 0 if none does: no
// overlong forms, no surrogates, nothing above U+10FFFF, no sequence cut by the end of `s`.
inline size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return 1;
  size_t len;
  uint32_t min;
  uint32_t cp;
  if ((b0 & 0xe0) == 0xc0) {
    len = 2, min = 0x80, cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3, min = 0x800, cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

}  // namespace cordon::base

#endif  // CORDON_BASE_UTF8_H_
