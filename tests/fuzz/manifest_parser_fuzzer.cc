// libFuzzer target: the plugin manifest parser. Manifests ship inside plugin bundles, so they
// are attacker-controlled input read by the launcher before any sandbox exists.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "ipc/manifest_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > cordon::ipc::ManifestLoader::kMaxManifestBytes) return 0;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto manifest = cordon::ipc::ManifestLoader::Parse(text, "fuzz/manifest.textproto");
  if (manifest.ok()) {
    // Whatever parsed must also pass Validate on its own (Parse validates).
    auto status = cordon::ipc::ManifestLoader::Validate(*manifest, "fuzz/manifest.textproto");
    if (!status.ok()) __builtin_trap();
  }
  return 0;
}
