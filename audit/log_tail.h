#ifndef CORDON_AUDIT_LOG_TAIL_H_
#define CORDON_AUDIT_LOG_TAIL_H_

#include <cstdint>
#include <ostream>
#include <string>

namespace cordon::audit {

// `cordon audit tail [-f]`: prints the last records of a log and, following, every record
// written after them, across rotations (by seq, not by name) and across a restart of the
// writer that cut a torn record (LogReader notices the cut).
class LogTail {
 public:
  struct Options {
    std::string path;   // the active file
    bool json = false;  // the original lines instead of the table
    bool follow = false;
    uint64_t last = 10;                 // records to show first
    uint64_t max_records = UINT64_MAX;  // exit after printing this many
  };
  // Exit status: 0, or 2 for an error (named on `err`).
  static int Run(const Options& options, std::ostream& out, std::ostream& err);
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_LOG_TAIL_H_
