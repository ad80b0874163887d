#ifndef CORDON_IPC_MANIFEST_LOADER_H_
#define CORDON_IPC_MANIFEST_LOADER_H_

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cordon/v1/manifest.pb.h"

namespace cordon::ipc {

// A plugin bundle: a directory holding manifest.textproto and the plugin's files.
struct PluginBundle {
  std::filesystem::path directory;
  cordon::v1::Manifest manifest;
  // directory / manifest.entry(), checked to be a regular executable file inside the bundle.
  std::filesystem::path entry_path;
};

class ManifestLoader {
 public:
  static constexpr absl::string_view kManifestFileName = "manifest.textproto";
  static constexpr size_t kMaxManifestBytes = 256 * 1024;
  // Bounds on limits a manifest may set (0 always means "the host's default"). Heartbeats
  // count against the host's unsolicited-message rate, so they cannot be made arbitrarily
  // frequent. Below 16 KiB a datagram could not carry an SDK's Hello with many methods, nor
  // its 8 KiB log lines and error messages with their envelopes.
  static constexpr uint64_t kMinHeartbeatIntervalMs = 20;
  static constexpr uint64_t kMaxHeartbeatIntervalMs = 3'600'000;
  static constexpr uint64_t kMinMessageBytes = 16384;

  // Parses and validates manifest text. `source` names the text in errors
  // ("<bundle>/manifest.textproto:12:3: ...").
  static absl::StatusOr<cordon::v1::Manifest> Parse(absl::string_view text,
                                                    absl::string_view source);
  static absl::Status Validate(const cordon::v1::Manifest& manifest, absl::string_view source);
  // Reads <directory>/manifest.textproto, validates it and resolves the entry executable.
  static absl::StatusOr<PluginBundle> LoadBundle(const std::filesystem::path& directory);
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_MANIFEST_LOADER_H_
