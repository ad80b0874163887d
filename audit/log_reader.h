#ifndef CORDON_AUDIT_LOG_READER_H_
#define CORDON_AUDIT_LOG_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cordon::audit {

// Reads one log file line by line with bounded memory. It can also follow a growing file:
// after kNoLine, call Next again once more data may have arrived. A followed file that is cut
// and written again (a restarting writer cuts a torn last record and appends audit.recovered)
// is noticed: the reader drops the partial line it held and reads on from where the cut was,
// or from the start of the file if it was cut shorter than that (see rewinds()).
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
  // How often the file was found cut below a line already returned (not a torn-record cut):
  // reading then starts again at offset 0, so those lines come again.
  uint64_t rewinds() const { return rewinds_; }

  // Orders log files by the seq of their first record (rotated files first, oldest first);
  // files that hold no readable record go last, keeping their given order. With
  // `add_rotated`, the rotated siblings (`FILE.<20 digits>`) of each file are added.
  static absl::StatusOr<std::vector<std::string>> OrderFiles(std::vector<std::string> files,
                                                             bool add_rotated);

 private:
  LogReader() = default;
  // At end of file: true (after Resync) when the file is now shorter than what was read.
  absl::StatusOr<bool> ShrankBelowPosition();
  // After new data arrived behind `held` bytes of a partial line kept since the last end of
  // file: true (after Resync) when the file no longer holds those bytes there.
  absl::StatusOr<bool> HeldBytesRewritten(size_t held);
  // Drops what is buffered and reads on from the held line's start (or 0 if past `size`).
  absl::StatusOr<bool> Resync(uint64_t size);
  std::string path_;
  int fd_ = -1;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t buf_offset_ = 0;  // file offset of buf_[0]
  uint64_t line_offset_ = 0;
  bool skipping_ = false;
  bool held_at_eof_ = false;  // a partial line was held at the last end of file
  uint64_t rewinds_ = 0;
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_LOG_READER_H_
