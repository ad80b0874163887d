#ifndef CORDON_AUDIT_LOG_FILES_H_
#define CORDON_AUDIT_LOG_FILES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cordon::audit {

// Naming of the files of one log: the active file `<path>` and rotated files
// `<path>.<first seq as 20 digits>`, so a plain sort by name is also a sort by seq.
class LogFiles {
 public:
  struct Rotated {
    uint64_t first_seq;
    std::string path;
  };
  static std::string RotatedName(const std::string& active_path, uint64_t first_seq);
  // Rotated files of `active_path`, oldest first. A missing directory is an error.
  static absl::StatusOr<std::vector<Rotated>> ListRotated(const std::string& active_path);
  // Reads up to `max_bytes` from the end of the open file `fd` of size `size`.
  static absl::StatusOr<std::string> ReadTail(int fd, uint64_t size, uint64_t max_bytes);
  // Last complete (newline-terminated) line of `fd`, without the newline; empty if none.
  static absl::StatusOr<std::string> LastLine(const std::string& path);
  // fsync of the directory holding `path`, so a rename or create survives power loss.
  static absl::Status SyncDirectory(const std::string& path);
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_LOG_FILES_H_
