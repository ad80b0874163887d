#include "launcher/host/output_lines.h"

#include <algorithm>
#include <utility>

namespace cordon::host {

OutputLines::OutputLines(size_t max_line_bytes, EmitFn emit)
    : max_line_bytes_(std::max<size_t>(1, max_line_bytes)), emit_(std::move(emit)) {}

void OutputLines::Feed(std::string_view bytes) {
  // A line cut exactly at the bound whose newline comes next: that newline ends the cut line,
  // not an empty one (which would cost a log record of nothing).
  if (bytes.empty()) return;
  if (std::exchange(skip_newline_, false) && bytes.front() == '\n') bytes.remove_prefix(1);
  while (!bytes.empty()) {
    const size_t room = max_line_bytes_ - pending_.size();
    const size_t newline = bytes.substr(0, room + 1).find('\n');
    if (newline != std::string_view::npos) {
      pending_.append(bytes.substr(0, newline));
      bytes.remove_prefix(newline + 1);
      Emit(pending_, false);
      pending_.clear();
      continue;
    }
    if (bytes.size() < room) {
      pending_.append(bytes);
      return;
    }
    // The bound is reached without a newline: out it goes, cut.
    pending_.append(bytes.substr(0, room));
    bytes.remove_prefix(room);
    Emit(pending_, true);
    pending_.clear();
    // (A newline right here would have made it a whole line above.)
    skip_newline_ = bytes.empty();
  }
}

void OutputLines::Flush() {
  if (pending_.empty()) return;
  Emit(pending_, false);
  pending_.clear();
}

void OutputLines::Emit(std::string_view line, bool cut) {
  ++lines_;
  emit_(line, cut);
}

}  // namespace cordon::host
