#include "ipc/version_negotiator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace cordon::ipc {

std::string VersionSpan::ToString() const { return absl::StrCat("[", min, ", ", max, "]"); }

absl::StatusOr<uint32_t> VersionNegotiator::Negotiate(const VersionSpan& host,
                                                      const VersionSpan& plugin) {
  if (host.min == 0 || host.min > host.max) {
    return absl::InvalidArgumentError(
        absl::StrCat("host protocol range ", host.ToString(), " is empty or invalid"));
  }
  if (plugin.min == 0 || plugin.min > plugin.max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin protocol range ", plugin.ToString(), " is empty or invalid (host speaks ",
        host.ToString(), "); versions start at 1 and min must not exceed max"));
  }
  uint32_t lo = std::max(host.min, plugin.min);
  uint32_t hi = std::min(host.max, plugin.max);
  if (lo > hi) {
    const char* hint = plugin.max < host.min ? "the plugin is too old for this host; rebuild it "
                                               "with a newer SDK"
                                             : "the plugin is too new for this host; upgrade "
                                               "cordon or build the plugin with an older SDK";
    return absl::FailedPreconditionError(absl::StrCat("protocol version mismatch: plugin speaks ",
                                                      plugin.ToString(), ", host speaks ",
                                                      host.ToString(), "; ", hint));
  }
  return hi;
}

absl::StatusOr<uint32_t> VersionNegotiator::NegotiateWithManifest(
    const VersionSpan& host, const std::optional<VersionSpan>& manifest,
    const VersionSpan& plugin) {
  if (!manifest.has_value()) return Negotiate(host, plugin);
  VersionSpan allowed{std::max(host.min, manifest->min), std::min(host.max, manifest->max)};
  absl::StatusOr<uint32_t> version = Negotiate(allowed, plugin);
  if (version.ok() || (absl::IsInvalidArgument(version.status()) && allowed.min <= allowed.max)) {
    return version;  // chosen, or the Hello's own range is invalid (the message says so)
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "protocol version mismatch: the plugin's Hello announces ", plugin.ToString(),
      ", its manifest declares ", manifest->ToString(), " and the host speaks ", host.ToString(),
      "; the version must lie in all three (fix the manifest's protocol range or rebuild the "
      "plugin)"));
}

}  // namespace cordon::ipc
