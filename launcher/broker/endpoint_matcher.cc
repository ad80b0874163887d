#include "launcher/broker/endpoint_matcher.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cordon::broker {
namespace {

// Bounds the work one request can cause in the launcher.
constexpr size_t kMaxResolvedAddresses = 16;

absl::Status Denied(absl::string_view endpoint, absl::string_view why) {
  return absl::PermissionDeniedError(
      absl::StrCat("connect to '", absl::CEscape(endpoint), "' denied: ", why));
}

absl::Status Malformed(absl::string_view endpoint, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("connect endpoint '", absl::CEscape(endpoint), "' is malformed: ", why,
                   "; expected IPV4:PORT, [IPV6]:PORT, NAME:PORT or unix:/PATH"));
}

}  // namespace

EndpointMatcher::EndpointMatcher(std::vector<EndpointPattern> grants, Resolver resolver)
    : grants_(std::move(grants)), resolver_(std::move(resolver)) {
  if (!resolver_) resolver_ = &EndpointMatcher::SystemResolve;
}

bool EndpointMatcher::AddressGranted(const IpAddress& address, uint16_t port) const {
  return std::any_of(grants_.begin(), grants_.end(),
                     [&](const EndpointPattern& g) { return g.MatchesAddress(address, port); });
}

absl::StatusOr<ConnectTarget> EndpointMatcher::Match(absl::string_view endpoint) const {
  if (endpoint.size() > kMaxEndpointBytes) {
    return Malformed(endpoint.substr(0, 64), "longer than 512 bytes");
  }
  if (endpoint.find('\0') != absl::string_view::npos) {
    return Malformed(endpoint, "contains a NUL byte");
  }
  ConnectTarget target;
  if (absl::StartsWith(endpoint, "unix:")) {
    absl::string_view path = endpoint.substr(5);
    if (absl::Status s = EndpointPattern::ValidateUnixPath(path); !s.ok()) {
      return Malformed(endpoint, s.message());
    }
    for (const EndpointPattern& g : grants_) {
      if (g.MatchesUnix(path)) {
        target.is_unix = true;
        target.unix_path = std::string(path);
        return target;
      }
    }
    return Denied(endpoint, "no net.connect grant names this unix socket");
  }
  absl::string_view host;
  absl::string_view port_text;
  bool bracketed = false;
  if (absl::StartsWith(endpoint, "[")) {
    size_t close = endpoint.find("]:");
    if (close == absl::string_view::npos) return Malformed(endpoint, "missing ']:PORT'");
    host = endpoint.substr(1, close - 1);
    port_text = endpoint.substr(close + 2);
    bracketed = true;
  } else {
    size_t colon = endpoint.rfind(':');
    if (colon == absl::string_view::npos) return Malformed(endpoint, "missing ':PORT'");
    host = endpoint.substr(0, colon);
    port_text = endpoint.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return Malformed(endpoint, "IPv6 addresses must be written in brackets");
    }
  }
  absl::StatusOr<uint16_t> port = EndpointPattern::ParsePort(port_text);
  if (!port.ok()) return Malformed(endpoint, port.status().message());
  target.port = *port;

  if (std::optional<IpAddress> ip = IpAddress::Parse(host); ip.has_value()) {
    if (bracketed && host.find(':') == absl::string_view::npos) {
      return Malformed(endpoint, "IPv4 addresses are written without brackets");
    }
    if (!AddressGranted(*ip, *port)) {
      return Denied(endpoint, absl::StrCat("address ", ip->ToStringWithPort(*port),
                                           " is not covered by any net.connect grant"));
    }
    target.addresses.push_back(*ip);
    return target;
  }
  if (bracketed) return Malformed(endpoint, "not an IPv6 address");
  absl::StatusOr<std::string> name = EndpointPattern::NormalizeHostName(host);
  if (!name.ok()) return Denied(endpoint, name.status().message());
  bool granted = std::any_of(grants_.begin(), grants_.end(),
                             [&](const EndpointPattern& g) { return g.MatchesName(*name, *port); });
  if (!granted) {
    return Denied(endpoint, absl::StrCat("name '", *name, "' on port ", *port,
                                         " is not granted (names are resolved only when granted)"));
  }
  target.name = *name;
  absl::StatusOr<std::vector<IpAddress>> resolved = resolver_(*name, *port);
  if (!resolved.ok()) return resolved.status();
  for (const IpAddress& a : *resolved) {
    if (a.IsInternal() && !AddressGranted(a, *port)) {
      target.dropped.push_back(a);
    } else {
      target.addresses.push_back(a);
    }
  }
  if (target.addresses.empty()) {
    std::string list;
    for (const IpAddress& a : target.dropped) {
      absl::StrAppend(&list, list.empty() ? "" : ", ", a.ToString());
    }
    return Denied(endpoint,
                  absl::StrCat("'", *name, "' resolved only to internal addresses (",
                               list.empty() ? "none" : list, ") that no address grant covers"));
  }
  return target;
}

absl::StatusOr<std::vector<IpAddress>> EndpointMatcher::SystemResolve(const std::string& name,
                                                                      uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  std::string service = absl::StrCat(port);
  int rc = getaddrinfo(name.c_str(), service.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve granted name '", name, "': ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(result, &freeaddrinfo);
  std::vector<IpAddress> out;
  for (addrinfo* ai = result; ai != nullptr && out.size() < kMaxResolvedAddresses;
       ai = ai->ai_next) {
    std::optional<IpAddress> a = IpAddress::FromSockaddr(ai->ai_addr, ai->ai_addrlen);
    if (a.has_value() && std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(*a);
  }
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat("granted name '", name, "' has no IP address"));
  }
  return out;
}

}  // namespace cordon::broker
