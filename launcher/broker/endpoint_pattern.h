#ifndef CORDON_LAUNCHER_BROKER_ENDPOINT_PATTERN_H_
#define CORDON_LAUNCHER_BROKER_ENDPOINT_PATTERN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "launcher/broker/ip_address.h"

namespace cordon::broker {

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 0;
  bool Contains(uint16_t port) const { return port >= lo && port <= hi; }
  bool Covers(const PortRange& o) const { return o.lo >= lo && o.hi <= hi; }
};

// One net.connect grant or bound (syntax in docs/broker.md):
//   ADDRESS[/PREFIX]:PORTS    IPv4, e.g. "127.0.0.1:5432", "10.0.0.0/8:443-443"
//   [ADDRESS[/PREFIX]]:PORTS  IPv6 in brackets, e.g. "[::1]:8080", "[fd00::/8]:1-65535"
//   NAME:PORTS                a DNS name, e.g. "example.org:443"
//   *:PORTS                   any DNS name (never an address literal), e.g. "*:443"
//   unix:/ABS/PATH            a unix stream socket, matched exactly
// PORTS is "N", "N-M" or "*" (1-65535). A name that inet_aton would read as a number
// ("127.1", "0x7f", "2130706433") is refused: it is neither an address nor a name.
class EndpointPattern {
 public:
  enum class Kind { kAddress, kName, kUnix };

  static absl::StatusOr<EndpointPattern> Parse(absl::string_view text);

  // Shared with request parsing, so grants and requests agree on what a name or port is.
  // Lower-cases, drops one trailing dot; LDH labels of 1..63, total <= 253.
  static absl::StatusOr<std::string> NormalizeHostName(absl::string_view name);
  static absl::StatusOr<uint16_t> ParsePort(absl::string_view text);
  // Absolute, no NUL, no "." or ".." components, fits sockaddr_un.sun_path.
  static absl::Status ValidateUnixPath(absl::string_view path);

  Kind kind() const { return kind_; }
  // True when every endpoint this pattern matches is also matched by *this (used to check a
  // manifest request against the profile bound).
  bool Covers(const EndpointPattern& narrower) const;
  bool MatchesAddress(const IpAddress& address, uint16_t port) const;
  // `name` must already be normalised.
  bool MatchesName(absl::string_view name, uint16_t port) const;
  bool MatchesUnix(absl::string_view path) const;

  // Canonical text (normalised name, canonical address), as granted to the plugin.
  std::string ToString() const;
  const std::string& name() const { return name_; }

 private:
  Kind kind_ = Kind::kAddress;
  IpAddress network_;
  int prefix_len_ = 0;
  std::string name_;  // kName: normalised host name; kUnix: the path
  PortRange ports_;
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_ENDPOINT_PATTERN_H_
