// libFuzzer target: the sandbox profile parser (text format + validation + defaults), which
// reads profiles named on the command line and in host configuration. It must reject any
// input with a status, never crash, hang or allocate without bound.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sandbox-profiles/profile_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The loader caps file reads at kMaxProfileBytes; ParseText is only reached below that.
  if (size > cordon::profiles::ProfileLoader::kMaxProfileBytes) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto profile = cordon::profiles::ProfileLoader::ParseText(text, "fuzz.textproto");
  if (profile.ok()) {
    // A profile that parsed must survive a round trip through its own text form.
    auto again =
        cordon::profiles::ProfileLoader::ParseText(profile->DebugString(), "fuzz-again.textproto");
    (void)again;
  }
  return 0;
}
