#ifndef CORDON_SANDBOX_PROFILES_BUILD_ID_H_
#define CORDON_SANDBOX_PROFILES_BUILD_ID_H_

#include <string>

namespace cordon::profiles {

// The GNU build id (lower-case hex) of the loaded ELF object whose code holds `address`: the
// running binary for code linked into it, else the shared library it came from. Keys of the
// compiled cache use it so that a result never outlives the code that computed it, even when a
// distribution patches a library without changing its version. Empty when the object has none.
std::string BuildIdOf(const void* address);

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_BUILD_ID_H_
