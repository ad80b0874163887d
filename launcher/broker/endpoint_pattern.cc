#include "launcher/broker/endpoint_pattern.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cordon::broker {
namespace {

constexpr size_t kMaxPatternText = 512;
constexpr size_t kMaxHostName = 253;
constexpr size_t kMaxLabel = 63;

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("endpoint '", absl::CEscape(text), "': ", why,
                   "; expected ADDRESS[/PREFIX]:PORTS, [IPV6[/PREFIX]]:PORTS, NAME:PORTS or "
                   "unix:/PATH (docs/broker.md)"));
}

absl::StatusOr<PortRange> ParsePorts(absl::string_view text) {
  if (text == "*") return PortRange{1, 65535};
  std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits('-', 1));
  absl::StatusOr<uint16_t> lo = EndpointPattern::ParsePort(parts[0]);
  if (!lo.ok()) return lo.status();
  uint16_t hi = *lo;
  if (parts.size() == 2) {
    absl::StatusOr<uint16_t> h = EndpointPattern::ParsePort(parts[1]);
    if (!h.ok()) return h.status();
    hi = *h;
  }
  if (hi < *lo) {
    return absl::InvalidArgumentError(absl::StrCat("port range '", text, "' is empty"));
  }
  return PortRange{*lo, hi};
}

}  // namespace

absl::StatusOr<uint16_t> EndpointPattern::ParsePort(absl::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) {
    return absl::InvalidArgumentError(
        absl::StrCat("port '", absl::CEscape(text), "' is not a decimal number 1-65535"));
  }
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(
          absl::StrCat("port '", absl::CEscape(text), "' is not a decimal number 1-65535"));
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", value, " is outside 1-65535"));
  }
  return static_cast<uint16_t>(value);
}

absl::StatusOr<std::string> EndpointPattern::NormalizeHostName(absl::string_view name) {
  if (absl::EndsWith(name, ".")) name.remove_suffix(1);
  if (name.empty() || name.size() > kMaxHostName) {
    return absl::InvalidArgumentError(absl::StrCat("host name '", absl::CEscape(name.substr(0, 64)),
                                                   "' is empty or longer than 253 bytes"));
  }
  std::string lower = absl::AsciiStrToLower(name);
  std::vector<absl::string_view> labels = absl::StrSplit(lower, '.');
  for (absl::string_view label : labels) {
    bool ok =
        !label.empty() && label.size() <= kMaxLabel && label.front() != '-' && label.back() != '-';
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') ok = false;
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat("host name '", absl::CEscape(name),
                                                     "' has an invalid label (letters, digits and "
                                                     "inner hyphens, 1-63 bytes each)"));
    }
  }
  // getaddrinfo would hand these to inet_aton, which reads "127.1", "0x7f" or "2130706433" as
  // addresses: such a "name" is really an address in an unchecked spelling.
  in_addr ignored;
  bool all_digits = true;
  for (char c : absl::string_view(labels.back())) all_digits &= absl::ascii_isdigit(c);
  if (all_digits || inet_aton(lower.c_str(), &ignored) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", absl::CEscape(name),
                     "' is a numeric address in a non-standard spelling, not a "
                     "host name; write IPv4 as four decimal octets or IPv6 in brackets"));
  }
  return lower;
}

absl::Status EndpointPattern::ValidateUnixPath(absl::string_view path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path '", absl::CEscape(path), "' is not absolute"));
  }
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path of ", path.size(), " bytes does not fit sun_path (107)"));
  }
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("unix socket path contains a NUL byte");
  }
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    if (part == "." || part == ".." || part.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unix socket path '", absl::CEscape(path),
          "' is not canonical (empty, '.' or '..' component); name the socket exactly"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<EndpointPattern> EndpointPattern::Parse(absl::string_view text) {
  if (text.size() > kMaxPatternText) return Invalid(text.substr(0, 64), "longer than 512 bytes");
  EndpointPattern p;
  if (absl::StartsWith(text, "unix:")) {
    absl::string_view path = text.substr(5);
    if (absl::Status s = ValidateUnixPath(path); !s.ok()) return Invalid(text, s.message());
    p.kind_ = Kind::kUnix;
    p.name_ = std::string(path);
    return p;
  }
  absl::string_view host;
  absl::string_view ports;
  bool bracketed = false;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find("]:");
    if (close == absl::string_view::npos) return Invalid(text, "missing ']:' after IPv6");
    host = text.substr(1, close - 1);
    ports = text.substr(close + 2);
    bracketed = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return Invalid(text, "missing ':PORTS'");
    host = text.substr(0, colon);
    ports = text.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return Invalid(text, "IPv6 addresses must be written in brackets");
    }
  }
  absl::StatusOr<PortRange> range = ParsePorts(ports);
  if (!range.ok()) return Invalid(text, range.status().message());
  p.ports_ = *range;

  absl::string_view address = host;
  std::optional<int> prefix;
  if (size_t slash = host.find('/'); slash != absl::string_view::npos) {
    address = host.substr(0, slash);
    int len = 0;
    absl::string_view digits = host.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || !absl::SimpleAtoi(digits, &len) ||
        !absl::ascii_isdigit(digits[0])) {
      return Invalid(text, "prefix length is not a number");
    }
    prefix = len;
  }
  std::optional<IpAddress> ip = IpAddress::Parse(address);
  if (ip.has_value()) {
    if (bracketed == ip->is_v4() && !(bracketed && address.find(':') != absl::string_view::npos)) {
      return Invalid(text, "IPv4 addresses are written without brackets, IPv6 with them");
    }
    int len = prefix.value_or(ip->bits());
    // A mapped address normalises to IPv4, so its /96+ prefix is re-based on 32 bits.
    if (bracketed && ip->is_v4() && prefix.has_value()) len -= 96;
    if (len < 0 || len > ip->bits()) return Invalid(text, "prefix length out of range");
    if (!ip->HostBitsZero(len)) {
      return Invalid(text, "address has bits set beyond the prefix length (not a network)");
    }
    p.kind_ = Kind::kAddress;
    p.network_ = *ip;
    p.prefix_len_ = len;
    return p;
  }
  if (bracketed || prefix.has_value()) return Invalid(text, "not an IP address or network");
  if (host == "*") {
    p.kind_ = Kind::kName;
    p.name_.assign(1, '*');  // (assign: GCC 12 -Wrestrict false positive on = "*")
    return p;
  }
  absl::StatusOr<std::string> name = NormalizeHostName(host);
  if (!name.ok()) return Invalid(text, name.status().message());
  p.kind_ = Kind::kName;
  p.name_ = *name;
  return p;
}

bool EndpointPattern::Covers(const EndpointPattern& o) const {
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kUnix:
      return name_ == o.name_;
    case Kind::kName:
      return (name_ == "*" || name_ == o.name_) && ports_.Covers(o.ports_);
    case Kind::kAddress:
      return ports_.Covers(o.ports_) && prefix_len_ <= o.prefix_len_ &&
             o.network_.InPrefix(network_, prefix_len_);
  }
  return false;
}

bool EndpointPattern::MatchesAddress(const IpAddress& address, uint16_t port) const {
  return kind_ == Kind::kAddress && ports_.Contains(port) &&
         address.InPrefix(network_, prefix_len_);
}

bool EndpointPattern::MatchesName(absl::string_view name, uint16_t port) const {
  return kind_ == Kind::kName && ports_.Contains(port) && (name_ == "*" || name == name_);
}

bool EndpointPattern::MatchesUnix(absl::string_view path) const {
  return kind_ == Kind::kUnix && path == name_;
}

std::string EndpointPattern::ToString() const {
  std::string ports =
      ports_.lo == ports_.hi ? absl::StrCat(ports_.lo) : absl::StrCat(ports_.lo, "-", ports_.hi);
  switch (kind_) {
    case Kind::kUnix:
      return absl::StrCat("unix:", name_);
    case Kind::kName:
      return absl::StrCat(name_, ":", ports);
    case Kind::kAddress: {
      std::string addr = network_.ToString();
      if (prefix_len_ != network_.bits()) absl::StrAppend(&addr, "/", prefix_len_);
      if (!network_.is_v4()) addr = absl::StrCat("[", addr, "]");
      return absl::StrCat(addr, ":", ports);
    }
  }
  return "";
}

}  // namespace cordon::broker
