#ifndef CORDON_SANDBOX_PROFILES_PROFILE_DEFAULTS_H_
#define CORDON_SANDBOX_PROFILES_PROFILE_DEFAULTS_H_

#include <cstdint>
#include <string_view>

#include "cordon/v1/profile.pb.h"

namespace cordon::profiles {

// Turns a validated profile into the effective one: every field whose zero value means
// "default" gets the documented default (docs/profiles.md, "Defaults").
class ProfileDefaults {
 public:
  static constexpr std::string_view kHostname = "cordon";
  static constexpr uint32_t kHostId = 65534;    // nobody/nogroup on the host
  static constexpr uint32_t kSandboxId = 1000;  // what the program sees inside
  static constexpr std::string_view kWorkdir = "/";

  static cordon::v1::Profile Apply(cordon::v1::Profile profile);
};

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_PROFILE_DEFAULTS_H_
