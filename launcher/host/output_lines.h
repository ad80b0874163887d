#ifndef CORDON_LAUNCHER_HOST_OUTPUT_LINES_H_
#define CORDON_LAUNCHER_HOST_OUTPUT_LINES_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace cordon::host {

// Cuts a plugin's stdout or stderr, as it arrives in chunks, into lines for the log path.
// Memory is bounded by max_line_bytes whatever the plugin writes: a line that reaches the
// bound without a newline is emitted as it stands (cut = true) and the rest of it starts the
// next one. Not thread-safe (one per stream, fed from the supervising thread).
class OutputLines {
 public:
  using EmitFn = std::function<void(std::string_view line, bool cut)>;

  OutputLines(size_t max_line_bytes, EmitFn emit);

  // `bytes` as read from the pipe: every complete line in it (without its '\n') is emitted.
  void Feed(std::string_view bytes);
  // At EOF: a last line without a newline is emitted.
  void Flush();

  uint64_t lines() const { return lines_; }

 private:
  void Emit(std::string_view line, bool cut);

  const size_t max_line_bytes_;
  const EmitFn emit_;
  std::string pending_;
  // The last Feed ended with a line cut exactly at the bound.
  bool skip_newline_ = false;
  uint64_t lines_ = 0;
};

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_OUTPUT_LINES_H_
