#include "launcher/broker/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace cordon::broker {
namespace {

// Longest textual IPv6 address (with embedded IPv4) plus slack; longer input is not an address.
constexpr size_t kMaxAddressText = 64;

bool IsV4Mapped(const uint8_t* b) {
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(absl::string_view text) {
  if (text.empty() || text.size() > kMaxAddressText) return std::nullopt;
  // inet_pton needs a NUL-terminated string; an embedded NUL would silently cut the text.
  if (text.find('\0') != absl::string_view::npos) return std::nullopt;
  char buf[kMaxAddressText + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress out;
  in_addr v4;
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    out.v4_ = true;
    std::memcpy(out.bytes_.data(), &v4, 4);
    return out;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    if (IsV4Mapped(v6.s6_addr)) {
      out.v4_ = true;
      std::memcpy(out.bytes_.data(), v6.s6_addr + 12, 4);
    } else {
      out.v4_ = false;
      std::memcpy(out.bytes_.data(), v6.s6_addr, 16);
    }
    return out;
  }
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::FromSockaddr(const sockaddr* addr, socklen_t len) {
  IpAddress out;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(addr);
    out.v4_ = true;
    std::memcpy(out.bytes_.data(), &sin->sin_addr, 4);
    return out;
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(addr);
    if (IsV4Mapped(sin6->sin6_addr.s6_addr)) {
      out.v4_ = true;
      std::memcpy(out.bytes_.data(), sin6->sin6_addr.s6_addr + 12, 4);
    } else {
      out.v4_ = false;
      std::memcpy(out.bytes_.data(), sin6->sin6_addr.s6_addr, 16);
    }
    return out;
  }
  return std::nullopt;
}

bool IpAddress::InPrefix(const IpAddress& network, int prefix_len) const {
  if (v4_ != network.v4_ || prefix_len < 0 || prefix_len > bits()) return false;
  int full = prefix_len / 8;
  if (std::memcmp(bytes_.data(), network.bytes_.data(), full) != 0) return false;
  int rest = prefix_len % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (bytes_[full] & mask) == (network.bytes_[full] & mask);
}

bool IpAddress::HostBitsZero(int prefix_len) const {
  if (prefix_len < 0 || prefix_len > bits()) return false;
  int nbytes = bits() / 8;
  for (int i = 0; i < nbytes; ++i) {
    int bit_start = i * 8;
    uint8_t mask;
    if (bit_start + 8 <= prefix_len) {
      mask = 0;
    } else if (bit_start >= prefix_len) {
      mask = 0xff;
    } else {
      mask = static_cast<uint8_t>(0xff >> (prefix_len - bit_start));
    }
    if ((bytes_[i] & mask) != 0) return false;
  }
  return true;
}

bool IpAddress::IsInternal() const {
  struct Range {
    const char* net;
    int len;
  };
  // The IANA special-purpose registries (RFC 6890 and successors), every entry that is not
  // plainly "globally reachable", plus multicast and 240/4. docs/broker.md lists them.
  static constexpr Range kV4[] = {
      {"0.0.0.0", 8},        // "this network"
      {"10.0.0.0", 8},       // private (RFC 1918)
      {"100.64.0.0", 10},    // shared address space, CGNAT (RFC 6598)
      {"127.0.0.0", 8},      // loopback
      {"169.254.0.0", 16},   // link-local
      {"172.16.0.0", 12},    // private (RFC 1918)
      {"192.0.0.0", 24},     // IETF protocol assignments
      {"192.0.2.0", 24},     // documentation (TEST-NET-1)
      {"192.88.99.0", 24},   // 6to4 relay anycast (deprecated, RFC 7526)
      {"192.168.0.0", 16},   // private (RFC 1918)
      {"198.18.0.0", 15},    // benchmarking (RFC 2544)
      {"198.51.100.0", 24},  // documentation (TEST-NET-2)
      {"203.0.113.0", 24},   // documentation (TEST-NET-3)
      {"224.0.0.0", 4},      // multicast
      {"240.0.0.0", 4},      // reserved, and 255.255.255.255 broadcast
  };
  // Besides the v6 ranges of the same kinds, every form that embeds or translates an IPv4
  // address a gateway on the path may turn into an internal one: IPv4-compatible (::/96,
  // which also holds :: and ::1), IPv4-translated (::ffff:0:0:0/96, RFC 2765), NAT64
  // (64:ff9b::/96, 64:ff9b:1::/48), Teredo (2001::/32) and 6to4 (2002::/16).
  static constexpr Range kV6[] = {
      {"::", 96},            // unspecified, loopback, IPv4-compatible
      {"::ffff:0:0:0", 96},  // IPv4-translated
      {"64:ff9b::", 96},     // NAT64 well-known prefix
      {"64:ff9b:1::", 48},   // NAT64 local-use
      {"100::", 64},         // discard-only
      {"2001::", 32},        // Teredo
      {"2001:2::", 48},      // benchmarking
      {"2001:10::", 28},     // ORCHID (deprecated)
      {"2001:20::", 28},     // ORCHIDv2
      {"2001:db8::", 32},    // documentation
      {"2002::", 16},        // 6to4
      {"3fff::", 20},        // documentation (RFC 9637)
      {"5f00::", 16},        // segment routing SIDs (RFC 9602)
      {"fc00::", 7},         // unique local
      {"fe80::", 10},        // link-local
      {"fec0::", 10},        // site-local (deprecated)
      {"ff00::", 8},         // multicast
  };
  // Parsed once: this runs for every resolved address.
  using Parsed = std::vector<std::pair<IpAddress, int>>;
  static const Parsed* const kParsed[2] = {
      [] {
        auto* out = new Parsed();
        for (const Range& r : kV4) out->emplace_back(*Parse(r.net), r.len);
        return out;
      }(),
      [] {
        auto* out = new Parsed();
        for (const Range& r : kV6) out->emplace_back(*Parse(r.net), r.len);
        return out;
      }(),
  };
  for (const auto& [net, len] : *kParsed[v4_ ? 0 : 1]) {
    if (InPrefix(net, len)) return true;
  }
  return false;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (v4_) {
    inet_ntop(AF_INET, bytes_.data(), buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, bytes_.data(), buf, sizeof(buf));
  }
  return buf;
}

std::string IpAddress::ToStringWithPort(uint16_t port) const {
  if (v4_) return absl::StrCat(ToString(), ":", port);
  return absl::StrCat("[", ToString(), "]:", port);
}

socklen_t IpAddress::ToSockaddr(uint16_t port, sockaddr_storage* out) const {
  std::memset(out, 0, sizeof(*out));
  if (v4_) {
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, bytes_.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, bytes_.data(), 16);
  return sizeof(sockaddr_in6);
}

}  // namespace cordon::broker
