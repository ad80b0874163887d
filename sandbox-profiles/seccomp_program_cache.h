#ifndef CORDON_SANDBOX_PROFILES_SECCOMP_PROGRAM_CACHE_H_
#define CORDON_SANDBOX_PROFILES_SECCOMP_PROGRAM_CACHE_H_

#include <linux/filter.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cordon::profiles {

// A directory of BPF programs libseccomp compiled before, so that a start-up does not pay
// for compiling the same policy again (about 1 ms of CPU per `cordon run`, the largest
// user-space cost of a start: docs/performance-sandbox.md). libseccomp stays the compiler;
// the cache only remembers its output.
//
// The key is the compile input itself: the exact rule calls and attributes made on the
// libseccomp context and libseccomp's runtime version, as SeccompCompiler writes them down.
// An entry stores that input and is used only when it is byte for byte the same, plus a
// checksum of both, so a renamed, truncated or damaged file is a miss, never another filter.
//
// Trust: a cached program is loaded as the plugin's filter, so the cache must be exactly as
// trustworthy as the profiles and the binary. Open() refuses a directory, and Lookup() a file,
// that is not owned by the launcher's effective uid or that group or others may write, or that
// is reached through a symlink. The default directory is used only by root (it is root's own
// 0700 directory); rootless launchers use no cache unless CORDON_SECCOMP_CACHE names one,
// because a rootless plugin runs under the user's own uid and a writable bind of the cache
// would let it weaken the next plugin's filter.
class SeccompProgramCache {
 public:
  // Where the cache lives by default: $CORDON_SECCOMP_CACHE when set ("off" or "" disables
  // the cache: nullopt), else /var/cache/cordon/seccomp for root, else nullopt.
  static std::optional<std::string> DefaultDirectory();

  // Opens `directory`, creating it (mode 0700, parents 0755) when it is missing. Errors name
  // the directory and say what to fix (ownership, mode).
  static absl::StatusOr<std::unique_ptr<SeccompProgramCache>> Open(const std::string& directory);

  // The process-wide cache at DefaultDirectory(), opened once; nullptr when disabled or when
  // it cannot be used (then `*warning`, if given, is set once with the reason).
  static SeccompProgramCache* Default(std::string* warning = nullptr);

  ~SeccompProgramCache();
  SeccompProgramCache(const SeccompProgramCache&) = delete;
  SeccompProgramCache& operator=(const SeccompProgramCache&) = delete;

  // The program compiled from `compile_input`, or nullopt: missing, unreadable, untrusted
  // (owner, mode, symlink), damaged or other-input entries are all misses (the caller
  // compiles and stores again).
  std::optional<std::vector<sock_filter>> Lookup(std::string_view compile_input) const;

  // Stores `program` for `compile_input` atomically (a temporary file renamed into place).
  absl::Status Store(std::string_view compile_input, const std::vector<sock_filter>& program) const;

  const std::string& directory() const { return directory_; }

 private:
  SeccompProgramCache(std::string directory, int dir_fd);

  std::string directory_;
  int dir_fd_;
};

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_SECCOMP_PROGRAM_CACHE_H_
