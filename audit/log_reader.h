#ifndef CORDON_AUDIT_LOG_READER_H_
#define CORDON_AUDIT_LOG_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cordon::audit {

// Reads one log file line by line with bounded memory. It can also follow a growing file:
// after kNoLine, call Next again once more data may have arrived.
class LogReader {
 public:
  enum class Result {
    kLine,    // *line holds one complete line (newline stripped)
    kNoLine,  // no complete line available now; pending() bytes of a partial line are held
    kTooLong  // a line exceeded the cap; the reader skipped to the next newline
  };

  static absl::StatusOr<LogReader> Open(const std::string& path);
  LogReader(LogReader&& other) noexcept;
  LogReader& operator=(LogReader&& other) noexcept;
  ~LogReader();

  absl::StatusOr<Result> Next(std::string* line);
  // File offset where the last returned line started.
  uint64_t line_offset() const { return line_offset_; }
  // Bytes of an incomplete last line read so far.
  size_t pending() const { return buf_.size() - pos_; }
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }

  // Orders log files by the seq of their first record (rotated files first, oldest first);
  // files that hold no readable record go last, keeping their given order. With
  // `add_rotated`, the rotated siblings (`FILE.<20 digits>`) of each file are added.
  static absl::StatusOr<std::vector<std::string>> OrderFiles(std::vector<std::string> files,
                                                             bool add_rotated);

 private:
  LogReader() = default;
  std::string path_;
  int fd_ = -1;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t buf_offset_ = 0;  // file offset of buf_[0]
  uint64_t line_offset_ = 0;
  bool skipping_ = false;
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_LOG_READER_H_
