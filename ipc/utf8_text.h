#ifndef CORDON_IPC_UTF8_TEXT_H_
#define CORDON_IPC_UTF8_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace cordon::ipc {

// proto3 `string` fields must hold well-formed UTF-8: a receiver that finds anything else
// refuses the whole message (the launcher treats it as malformed and kills the plugin; the
// Rust SDK fails its decode). These helpers make arbitrary bytes safe to put there.

// Length (1-4) of the well-formed UTF-8 sequence starting at s[i], or 0 if none does: no
// overlong forms, no surrogates, nothing above U+10FFFF, no sequence cut by the end of `s`.
size_t Utf8SequenceLength(absl::string_view s, size_t i);
bool IsValidUtf8(absl::string_view s);

// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 sequence. For
// valid UTF-8 (it backs off over continuation bytes, at most three of them in valid text).
absl::string_view Utf8Prefix(absl::string_view s, size_t max);

// True when the first `max` bytes of `s` are valid UTF-8, but for a last sequence that `max`
// cuts; *prefix is then the text before that sequence (all of `s` if it is shorter). Pass at
// least max+3 bytes when there are that many, so that a sequence across `max` is seen whole.
bool ValidUtf8Prefix(absl::string_view s, size_t max, absl::string_view* prefix);

// `s` as text for a proto3 string field of at most `max` bytes: well-formed sequences are kept,
// every other byte becomes the four characters \xNN; when that does not fit, the text is cut
// on a sequence boundary and ends with "...[cut, N bytes]" (N: the length of `s`) so a reader
// sees that something is missing. Only the first 4*max bytes of `s` are ever looked at.
std::string ToProtoText(absl::string_view s, size_t max);

}  // namespace cordon::ipc

#endif  // CORDON_IPC_UTF8_TEXT_H_
