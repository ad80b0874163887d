#ifndef CORDON_SANDBOX_PROFILES_STRING_VIEW_COMPAT_H_
#define CORDON_SANDBOX_PROFILES_STRING_VIEW_COMPAT_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace cordon::profiles {

// Debian's abseil (20220623) is built with its own absl::string_view, which does not convert
// from std::string_view; our APIs take std::string_view, so bridge explicitly.
inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_STRING_VIEW_COMPAT_H_
