#ifndef CORDON_SANDBOX_PROFILES_PROFILE_LOADER_H_
#define CORDON_SANDBOX_PROFILES_PROFILE_LOADER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cordon/v1/profile.pb.h"

namespace cordon::profiles {

class CompiledCache;

// Finds, parses, validates and completes profiles (docs/profiles.md, "Lookup").
class ProfileLoader {
 public:
  // Profiles are small; anything bigger is not a profile.
  static constexpr size_t kMaxProfileBytes = 1024 * 1024;

  // Resolves NAME|PATH, parses, validates and applies defaults: the effective profile.
  static absl::StatusOr<cordon::v1::Profile> Load(std::string_view name_or_path);

  // Load, remembering the effective profile in `cache` (nullptr: plain Load). A hit needs the
  // same file bytes at the same path and the same build of this code (parser, validator,
  // defaults, schema), and then skips the text parser, whose descriptor tables are the largest
  // user-space cost of a `cordon run` start (docs/performance-sandbox.md). An invalid profile
  // is never cached: it fails as Load fails. `from_cache`, when given, says which it was.
  static absl::StatusOr<cordon::v1::Profile> LoadCached(std::string_view name_or_path,
                                                        CompiledCache* cache,
                                                        bool* from_cache = nullptr);

  // Parse + validate + defaults for text already in memory. `source_name` prefixes every
  // error ("source:line:column: ...") and, when the profile sets no name, its file stem
  // becomes the name.
  static absl::StatusOr<cordon::v1::Profile> ParseText(std::string_view text,
                                                       std::string_view source_name);

  // The file NAME|PATH refers to. An argument containing '/' or ending in ".textproto" is a
  // path (returned as given); otherwise NAME.textproto is looked up in SearchPath() order.
  // NotFound lists every place searched.
  static absl::StatusOr<std::string> Resolve(std::string_view name_or_path);

  // $CORDON_PROFILE_PATH (colon-separated), /etc/cordon/profiles, /usr/share/cordon/profiles,
  // the configured install directory when it differs, and the source tree's
  // sandbox-profiles/profiles when the running binary lives under the build tree.
  static std::vector<std::string> SearchPath();

  // Reads a profile file (regular file, at most kMaxProfileBytes).
  static absl::StatusOr<std::string> ReadFile(const std::string& path);
};

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_PROFILE_LOADER_H_
