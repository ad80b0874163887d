#include "ipc/utf8_text.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "base/utf8.h"

namespace cordon::ipc {

size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  return base::Utf8SequenceLength(std::string_view(s.data(), s.size()), i);
}

bool IsValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = Utf8SequenceLength(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

absl::string_view Utf8Prefix(absl::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<uint8_t>(s[end]) & 0xc0) == 0x80) --end;
  return s.substr(0, end);
}

bool ValidUtf8Prefix(absl::string_view s, size_t max, absl::string_view* prefix) {
  size_t end = 0;
  while (end < s.size() && end < max) {
    const size_t len = Utf8SequenceLength(s, end);
    if (len == 0) return false;
    if (end + len > max) break;  // the sequence `max` cuts
    end += len;
  }
  *prefix = s.substr(0, end);
  return true;
}

namespace {

// Appends `s` as text to *out while the text fits in `max` bytes: whole sequences as they are,
// any other byte as \xNN. Returns whether all of `s` fit.
bool AppendText(absl::string_view s, size_t max, std::string* out) {
  constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    const size_t len = Utf8SequenceLength(s, i);
    if (out->size() + (len == 0 ? 4 : len) > max) return false;
    if (len == 0) {
      const auto b = static_cast<uint8_t>(s[i]);
      *out += {'\\', 'x', kHex[b >> 4], kHex[b & 0xf]};
      ++i;
    } else {
      out->append(s.data() + i, len);
      i += len;
    }
  }
  return true;
}

}  // namespace

std::string ToProtoText(absl::string_view s, size_t max) {
  // An escape is four bytes for one, so more than this of `s` can never be shown.
  const absl::string_view head = s.substr(0, max <= s.size() / 4 ? max * 4 : s.size());
  std::string out;
  if (head.size() == s.size() && AppendText(s, max, &out)) return out;
  const std::string marker = absl::StrCat("...[cut, ", s.size(), " bytes]");
  out.clear();
  if (marker.size() >= max) {
    AppendText(head, max, &out);
    return out;
  }
  AppendText(head, max - marker.size(), &out);
  return out + marker;
}

}  // namespace cordon::ipc
