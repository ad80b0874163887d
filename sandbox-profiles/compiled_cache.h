#ifndef CORDON_SANDBOX_PROFILES_COMPILED_CACHE_H_
#define CORDON_SANDBOX_PROFILES_COMPILED_CACHE_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cordon::profiles {

// A directory of results cordon computed before from exactly the same input, so that a
// `cordon run` does not pay again for the two largest user-space costs of its start
// (docs/performance-sandbox.md): libseccomp compiling the profile's filter and protobuf's
// text-format parser building its descriptor tables to read the profile. The computation stays
// what it is (libseccomp compiles, the text parser and validator read); the cache only
// remembers the result.
//
// The key is the input itself, written down by the caller: for a seccomp program the exact
// libseccomp calls, attributes, version and the build id of the code that compiles; for a
// profile the file's bytes, its path and the build id of the code that parses and validates
// it. An entry stores the input and is used only when it is byte for byte the same, plus a
// checksum of input and result, so a renamed, truncated or damaged file is a miss, never
// another result.
//
// Trust: a cached result *is* the next plugin's filter and profile, so the cache must be
// exactly as trustworthy as cordon's binary and profiles. Open() refuses a directory, and
// Lookup() a file, that is not owned by the launcher's effective uid, that group or others may
// write, or that is reached through a symlink. The default directory is used only by root
// (root's own 0700 directory); rootless launchers use no cache unless CORDON_CACHE names one,
// because a rootless plugin runs under the user's own uid and a writable bind of the cache
// would let it weaken the next plugin's sandbox.
class CompiledCache {
 public:
  // $CORDON_CACHE when set ("off" or "" disables the cache: nullopt), else /var/cache/cordon
  // for root, else nullopt.
  static std::optional<std::string> DefaultDirectory();

  // Opens `directory`, creating it (mode 0700, parents 0755) when it is missing. Errors name
  // the directory and say what to fix (ownership, mode).
  static absl::StatusOr<std::unique_ptr<CompiledCache>> Open(const std::string& directory);

  // The process-wide cache at DefaultDirectory(), opened once (safe from many threads);
  // nullptr when disabled or unusable, and then `*warning`, if given, is set with the reason,
  // once per process.
  static CompiledCache* Default(std::string* warning = nullptr);

  ~CompiledCache();
  CompiledCache(const CompiledCache&) = delete;
  CompiledCache& operator=(const CompiledCache&) = delete;

  // The result stored for (`kind`, `input`), at most `max_result_bytes` long, or nullopt:
  // missing, unreadable, untrusted (owner, mode, symlink), damaged, too long or other-input
  // entries are all misses (the caller computes and stores again). `kind` is a short name
  // ("seccomp", "profile") that keeps unrelated results apart.
  std::optional<std::string> Lookup(std::string_view kind, std::string_view input,
                                    size_t max_result_bytes) const;

  // Stores `result` for (`kind`, `input`) atomically (a temporary file renamed into place).
  absl::Status Store(std::string_view kind, std::string_view input, std::string_view result) const;

  const std::string& directory() const { return directory_; }

 private:
  CompiledCache(std::string directory, int dir_fd);

  std::string directory_;
  int dir_fd_;
};

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_COMPILED_CACHE_H_
