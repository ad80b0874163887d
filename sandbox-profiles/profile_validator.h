#ifndef CORDON_SANDBOX_PROFILES_PROFILE_VALIDATOR_H_
#define CORDON_SANDBOX_PROFILES_PROFILE_VALIDATOR_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "cordon/v1/profile.pb.h"

namespace cordon::profiles {

// One semantic problem in a profile.
struct ProfileIssue {
  // Path of the offending field, e.g. "mounts[2].destination" or "seccomp.allow[0]".
  std::string field;
  // What is wrong and how to fix it.
  std::string message;
};

// Checks what the schema cannot: paths, sizes, names, ids, limits, syscall names and groups.
// Runs on the profile as written (before ProfileDefaults), where zero means "default".
class ProfileValidator {
 public:
  static constexpr size_t kMaxMounts = 256;
  static constexpr size_t kMaxEnv = 256;
  static constexpr size_t kMaxEnvEntryBytes = 32 * 1024;
  static constexpr size_t kMaxPathBytes = 4096;

  static std::vector<ProfileIssue> Check(const cordon::v1::Profile& profile);

  // Check() folded into one status: InvalidArgument with one "source: field: message" line per
  // issue, or OK.
  static absl::Status Validate(const cordon::v1::Profile& profile, std::string_view source_name);

  // "" when `path` is absolute and normalized (no empty, "." or ".." components, no trailing
  // slash, no NUL), else why not.
  static std::string PathProblem(std::string_view path);
};

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_PROFILE_VALIDATOR_H_
