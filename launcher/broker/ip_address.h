#ifndef CORDON_LAUNCHER_BROKER_IP_ADDRESS_H_
#define CORDON_LAUNCHER_BROKER_IP_ADDRESS_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace cordon::broker {

// An IPv4 or IPv6 address as the broker compares it. Parsing is deliberately strict: only what
// inet_pton accepts is an address, so "127.1", "2130706433", "0x7f.1" and "0177.0.0.1" (which
// inet_aton and getaddrinfo would quietly turn into 127.0.0.1) are not addresses at all.
// IPv4-mapped IPv6 (::ffff:a.b.c.d) is normalised to IPv4, so a grant on 10.0.0.0/8 and a
// request for [::ffff:10.0.0.1] are compared as the same family.
class IpAddress {
 public:
  // Dotted-quad IPv4 or IPv6 text without brackets, zone ids or surrounding space.
  static std::optional<IpAddress> Parse(absl::string_view text);
  // From a kernel sockaddr (AF_INET / AF_INET6); nullopt for anything else.
  static std::optional<IpAddress> FromSockaddr(const sockaddr* addr, socklen_t len);

  bool is_v4() const { return v4_; }
  int family() const { return v4_ ? AF_INET : AF_INET6; }
  // Address width in bits: 32 or 128.
  int bits() const { return v4_ ? 32 : 128; }
  // True when the first prefix_len bits equal those of `network` (same family only).
  bool InPrefix(const IpAddress& network, int prefix_len) const;
  // True when bits after prefix_len are all zero (a canonical CIDR network address).
  bool HostBitsZero(int prefix_len) const;

  // Addresses a DNS answer must not be allowed to point at unless an address grant covers them:
  // loopback, unspecified, link-local, multicast, broadcast, private (RFC 1918, CGNAT, ULA,
  // site-local), "this network", documentation, benchmarking and reserved ranges, and every
  // IPv6 form embedding or translating an IPv4 address (compatible, translated, NAT64,
  // Teredo, 6to4). See docs/broker.md (DNS rebinding) for the list.
  bool IsInternal() const;

  std::string ToString() const;
  // "1.2.3.4:80" or "[::1]:80".
  std::string ToStringWithPort(uint16_t port) const;
  // Fills `out` for connect(2); returns the length to pass.
  socklen_t ToSockaddr(uint16_t port, sockaddr_storage* out) const;

  bool operator==(const IpAddress& o) const { return v4_ == o.v4_ && bytes_ == o.bytes_; }

 private:
  bool v4_ = true;
  // IPv4 uses the first four bytes; the rest stay zero.
  std::array<uint8_t, 16> bytes_{};
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_IP_ADDRESS_H_
