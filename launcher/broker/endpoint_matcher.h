#ifndef CORDON_LAUNCHER_BROKER_ENDPOINT_MATCHER_H_
#define CORDON_LAUNCHER_BROKER_ENDPOINT_MATCHER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "launcher/broker/endpoint_pattern.h"
#include "launcher/broker/ip_address.h"

namespace cordon::broker {

// Where a granted connect request may go: one unix path, or addresses to try in order.
struct ConnectTarget {
  bool is_unix = false;
  std::string unix_path;
  std::vector<IpAddress> addresses;
  uint16_t port = 0;
  // The granted name the addresses came from ("" for an address literal).
  std::string name;
  // Resolved addresses dropped by the rebinding rule, for the audit record.
  std::vector<IpAddress> dropped;
};

// Decides a plugin's connect request ("1.2.3.4:80", "[::1]:80", "name:443", "unix:/path")
// against its net.connect grants before anything touches the network.
//  - An address literal must match an address/CIDR grant; a name grant never admits a literal.
//  - A name is resolved (by the launcher, never the plugin) only when that exact name is
//    granted on that port. Every address it resolves to may be connected to, except internal
//    ones (IpAddress::IsInternal: loopback, private, link-local...), which are kept only when an
//    address grant also covers them on that port: a DNS answer cannot turn a public-name grant
//    into access to the host's loopback or LAN (DNS rebinding).
class EndpointMatcher {
 public:
  using Resolver =
      std::function<absl::StatusOr<std::vector<IpAddress>>(const std::string& name, uint16_t port)>;

  static constexpr size_t kMaxEndpointBytes = 512;

  explicit EndpointMatcher(std::vector<EndpointPattern> grants, Resolver resolver = nullptr);

  // PermissionDenied: not granted. InvalidArgument: malformed. Unavailable/NotFound: a granted
  // name did not resolve to any usable address.
  absl::StatusOr<ConnectTarget> Match(absl::string_view endpoint) const;

  // getaddrinfo(name, SOCK_STREAM), deduplicated, mapped addresses normalised.
  static absl::StatusOr<std::vector<IpAddress>> SystemResolve(const std::string& name,
                                                              uint16_t port);

  const std::vector<EndpointPattern>& grants() const { return grants_; }

 private:
  bool AddressGranted(const IpAddress& address, uint16_t port) const;

  std::vector<EndpointPattern> grants_;
  Resolver resolver_;
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_ENDPOINT_MATCHER_H_
