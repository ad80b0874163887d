#include "launcher/broker/endpoint_matcher.h"

#include <map>
#include <random>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::broker {
namespace {

using ::testing::HasSubstr;

std::vector<EndpointPattern> Grants(std::initializer_list<const char*> texts) {
  std::vector<EndpointPattern> out;
  for (const char* t : texts) out.push_back(*EndpointPattern::Parse(t));
  return out;
}

// A resolver that answers from a table and records every lookup, so tests can prove that
// ungranted names are never resolved.
struct FakeDns {
  std::map<std::string, std::vector<std::string>> table;
  std::vector<std::string> lookups;
  EndpointMatcher::Resolver resolver() {
    return [this](const std::string& name, uint16_t) -> absl::StatusOr<std::vector<IpAddress>> {
      lookups.push_back(name);
      auto it = table.find(name);
      if (it == table.end()) return absl::UnavailableError("no such name");
      std::vector<IpAddress> out;
      for (const std::string& a : it->second) out.push_back(*IpAddress::Parse(a));
      return out;
    };
  }
};

TEST(EndpointMatcherTest, AddressLiteralsMatchAddressGrants) {
  FakeDns dns;
  EndpointMatcher m(Grants({"127.0.0.1:8080", "10.0.0.0/8:443", "[::1]:9000-9001"}),
                    dns.resolver());
  EXPECT_TRUE(m.Match("127.0.0.1:8080").ok());
  EXPECT_TRUE(m.Match("10.20.30.40:443").ok());
  EXPECT_TRUE(m.Match("[::1]:9001").ok());
  // Mapped IPv6 spelling of a granted IPv4 address is allowed, and connects over IPv4.
  absl::StatusOr<ConnectTarget> mapped = m.Match("[::ffff:127.0.0.1]:8080");
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_TRUE(mapped->addresses[0].is_v4());
  EXPECT_TRUE(dns.lookups.empty());
}

TEST(EndpointMatcherTest, DeniesEverythingOutsideTheGrant) {
  FakeDns dns;
  dns.table["localhost"] = {"127.0.0.1"};
  EndpointMatcher m(Grants({"127.0.0.1:8080", "[::1]:9000"}), dns.resolver());
  for (const char* e : {"127.0.0.1:8081", "127.0.0.2:8080", "10.0.0.1:8080", "[::1]:8080",
                        "[::2]:9000", "[::ffff:127.0.0.2]:8080", "0.0.0.0:8080",
                        // The same host in spellings inet_aton/getaddrinfo would accept:
                        "127.1:8080", "2130706433:8080", "0x7f.1:8080", "0177.0.0.1:8080",
                        "0x7f000001:8080", "[::127.0.0.1]:8080", "[0:0:0:0:0:ffff:7f00:2]:8080",
                        // A name for a granted address is not granted.
                        "localhost:8080", "[127.0.0.1]:8080"}) {
    absl::StatusOr<ConnectTarget> t = m.Match(e);
    EXPECT_FALSE(t.ok()) << e;
    EXPECT_TRUE(absl::IsPermissionDenied(t.status()) || absl::IsInvalidArgument(t.status()))
        << e << ": " << t.status();
  }
  EXPECT_TRUE(dns.lookups.empty()) << "an ungranted name was resolved";
}

TEST(EndpointMatcherTest, MalformedEndpoints) {
  EndpointMatcher m(Grants({"127.0.0.1:80"}));
  for (std::string e :
       {std::string("127.0.0.1"), std::string("127.0.0.1:"), std::string("127.0.0.1:0"),
        std::string("127.0.0.1:99999"), std::string("::1:80"), std::string("[::1"),
        std::string(600, 'a'), std::string("127.0.0.1:80\0", 13), std::string("unix:rel")}) {
    EXPECT_FALSE(m.Match(e).ok()) << e;
  }
}

TEST(EndpointMatcherTest, NamesResolveOnlyWhenGranted) {
  FakeDns dns;
  dns.table["api.example.org"] = {"93.184.216.34", "2606:2800:220:1::1"};
  dns.table["evil.example.org"] = {"93.184.216.35"};
  EndpointMatcher m(Grants({"api.example.org:443"}), dns.resolver());
  absl::StatusOr<ConnectTarget> t = m.Match("API.Example.org.:443");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->name, "api.example.org");
  EXPECT_EQ(t->addresses.size(), 2u);
  EXPECT_FALSE(m.Match("api.example.org:80").ok());
  EXPECT_FALSE(m.Match("evil.example.org:443").ok());
  EXPECT_EQ(dns.lookups, std::vector<std::string>{"api.example.org"});
}

TEST(EndpointMatcherTest, RebindingToInternalAddressesIsRefused) {
  FakeDns dns;
  dns.table["rebind.example.org"] = {"127.0.0.1", "10.0.0.5", "::ffff:192.168.0.1", "::1"};
  dns.table["mixed.example.org"] = {"127.0.0.1", "93.184.216.34"};
  EndpointMatcher m(Grants({"rebind.example.org:80", "mixed.example.org:80"}), dns.resolver());
  absl::StatusOr<ConnectTarget> t = m.Match("rebind.example.org:80");
  EXPECT_TRUE(absl::IsPermissionDenied(t.status())) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("internal"));
  absl::StatusOr<ConnectTarget> mixed = m.Match("mixed.example.org:80");
  ASSERT_TRUE(mixed.ok());
  ASSERT_EQ(mixed->addresses.size(), 1u);
  EXPECT_EQ(mixed->addresses[0].ToString(), "93.184.216.34");
  ASSERT_EQ(mixed->dropped.size(), 1u);

  // An address grant covering the internal address lets the name reach it.
  EndpointMatcher both(Grants({"rebind.example.org:80", "127.0.0.0/8:80"}), dns.resolver());
  absl::StatusOr<ConnectTarget> ok = both.Match("rebind.example.org:80");
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->addresses.size(), 1u);
  EXPECT_EQ(ok->addresses[0].ToString(), "127.0.0.1");
}

TEST(EndpointMatcherTest, AnyNameGrantStillRefusesInternalAnswersAndLiterals) {
  FakeDns dns;
  dns.table["public.example.org"] = {"93.184.216.34"};
  dns.table["lan.example.org"] = {"192.168.1.10"};
  EndpointMatcher m(Grants({"*:443"}), dns.resolver());
  EXPECT_TRUE(m.Match("public.example.org:443").ok());
  EXPECT_TRUE(absl::IsPermissionDenied(m.Match("lan.example.org:443").status()));
  EXPECT_TRUE(absl::IsPermissionDenied(m.Match("93.184.216.34:443").status()));
  EXPECT_TRUE(absl::IsPermissionDenied(m.Match("public.example.org:80").status()));
  EXPECT_TRUE(absl::IsPermissionDenied(m.Match("127.1:443").status()));
}

TEST(EndpointMatcherTest, UnixSocketsExactly) {
  EndpointMatcher m(Grants({"unix:/run/app.sock"}));
  absl::StatusOr<ConnectTarget> t = m.Match("unix:/run/app.sock");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->is_unix);
  for (const char* e : {"unix:/run/app.sock2", "unix:/run//app.sock", "unix:/run/./app.sock",
                        "unix:/run/x/../app.sock", "unix:/run/other.sock"}) {
    EXPECT_FALSE(m.Match(e).ok()) << e;
  }
}

TEST(EndpointMatcherTest, RandomBytesNeverMatchOrResolve) {
  FakeDns dns;
  EndpointMatcher m(Grants({"127.0.0.1:8080", "[::1]:8080", "a.example:8080", "unix:/run/a"}),
                    dns.resolver());
  std::mt19937 rng(5);
  const std::string alphabet = std::string("0123456789abcdefx.:[]/-*unix%") + '\0' + "\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string e;
    size_t len = rng() % 24;
    for (size_t k = 0; k < len; ++k) e.push_back(alphabet[rng() % alphabet.size()]);
    absl::StatusOr<ConnectTarget> t = m.Match(e);
    if (t.ok()) {
      // Only the exact granted endpoints (in their legal spellings) may pass.
      EXPECT_TRUE(t->is_unix || t->port == 8080) << absl::CEscape(e);
    }
  }
  EXPECT_TRUE(dns.lookups.size() <= 20000u);
  for (const std::string& name : dns.lookups) EXPECT_EQ(name, "a.example");
}

TEST(EndpointMatcherTest, SystemResolverReadsHostsFile) {
  // localhost comes from /etc/hosts (no network).
  absl::StatusOr<std::vector<IpAddress>> r = EndpointMatcher::SystemResolve("localhost", 80);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->empty());
  for (const IpAddress& a : *r) EXPECT_TRUE(a.IsInternal()) << a.ToString();
}

}  // namespace
}  // namespace cordon::broker
