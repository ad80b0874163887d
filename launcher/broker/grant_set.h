#ifndef CORDON_LAUNCHER_BROKER_GRANT_SET_H_
#define CORDON_LAUNCHER_BROKER_GRANT_SET_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cordon/v1/common.pb.h"
#include "cordon/v1/profile.pb.h"
#include "google/protobuf/repeated_field.h"
#include "launcher/broker/endpoint_pattern.h"
#include "launcher/broker/path_resolver.h"

namespace cordon::broker {

// File access beneath one plugin-visible directory.
struct FsGrant {
  std::string plugin_path;                     // canonical, e.g. "/data/out"
  std::vector<std::string> plugin_components;  // {"data", "out"}
  // The profile bound it falls under, and the part of the path below the bound's plugin_path,
  // so the host directory is opened beneath the bound's (never by joining strings).
  std::string bound_host_path;
  std::vector<std::string> below_bound;
  bool read = false;
  bool write = false;
  bool create = false;
  bool follow_symlinks = false;
  std::string host_path() const;
};

// What a plugin is granted: the capabilities its manifest requests, each checked against the
// bounds of the profile the host chose. Capability syntax (docs/broker.md):
//   fs.read | fs.write | fs.create  target: plugin-visible absolute directory ("/data")
//   net.connect                     target: an EndpointPattern ("10.0.0.0/8:443")
//   host.call                       target: a host function name ([A-Za-z0-9_.:-]{1,128})
//   log                             target: "" (empty)
class GrantSet {
 public:
  static constexpr size_t kMaxCapabilities = 256;

  // Every requested capability must lie within the bounds; otherwise PermissionDenied whose
  // message lists each capability over the bound (and each malformed one), one per line.
  static absl::StatusOr<GrantSet> Intersect(const std::vector<cordon::v1::Capability>& requested,
                                            const cordon::v1::CapabilityBounds& bounds);
  static absl::StatusOr<GrantSet> Intersect(
      const google::protobuf::RepeatedPtrField<cordon::v1::Capability>& requested,
      const cordon::v1::CapabilityBounds& bounds);
  // Checks a profile's bounds on their own (paths absolute and canonical, one host path and
  // one follow_symlinks setting per plugin path, patterns parse, function names valid); the
  // error lists every problem.
  static absl::Status ValidateBounds(const cordon::v1::CapabilityBounds& bounds);
  static bool ValidFunctionName(absl::string_view name);

  // The most specific grant whose directory contains `components` (an absolute plugin path
  // split by PathResolver::SplitPluginPath) and allows `intent`; *rest is the path below it.
  // A create needs fs.create only, whatever its mode (the fd names a file it made); other
  // opens need fs.read / fs.write for their mode. PermissionDenied naming what is missing
  // otherwise.
  absl::StatusOr<size_t> MatchPath(const std::vector<std::string>& components,
                                   const OpenIntent& intent, std::vector<std::string>* rest) const;

  // The grants as capabilities, for Welcome.granted_capabilities.
  std::vector<cordon::v1::Capability> ToCapabilities() const;

  const std::vector<FsGrant>& fs() const { return fs_; }
  const std::vector<EndpointPattern>& net() const { return net_; }
  const std::set<std::string>& host_functions() const { return host_functions_; }
  bool log() const { return log_; }

 private:
  std::vector<FsGrant> fs_;  // sorted most specific first
  std::vector<EndpointPattern> net_;
  std::set<std::string> host_functions_;
  bool log_ = false;
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_GRANT_SET_H_
