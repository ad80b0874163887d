#include "launcher/broker/endpoint_pattern.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::broker {
namespace {

using ::testing::HasSubstr;

EndpointPattern P(const char* text) {
  absl::StatusOr<EndpointPattern> p = EndpointPattern::Parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status();
  return p.ok() ? *p : EndpointPattern();
}

TEST(EndpointPatternTest, ParsesEveryForm) {
  EXPECT_EQ(P("127.0.0.1:5432").ToString(), "127.0.0.1:5432");
  EXPECT_EQ(P("10.0.0.0/8:443-443").ToString(), "10.0.0.0/8:443");
  EXPECT_EQ(P("10.0.0.0/8:8000-8999").ToString(), "10.0.0.0/8:8000-8999");
  EXPECT_EQ(P("[::1]:8080").ToString(), "[::1]:8080");
  EXPECT_EQ(P("[fd00::/8]:*").ToString(), "[fd00::/8]:1-65535");
  EXPECT_EQ(P("Example.ORG.:443").ToString(), "example.org:443");
  EXPECT_EQ(P("unix:/run/app.sock").ToString(), "unix:/run/app.sock");
  EXPECT_EQ(P("[::ffff:10.0.0.0/104]:1").ToString(), "10.0.0.0/8:1");
  EXPECT_EQ(P("localhost:80").kind(), EndpointPattern::Kind::kName);
}

TEST(EndpointPatternTest, RejectsMalformedAndNumericNames) {
  for (const char* text :
       {"127.1:80",        "2130706433:80",  "0x7f.1:80",      "0177.0.0.1:80", "0x7f:80",
        "1.2.3:80",        "10.0.0.1/8:80",  "10.0.0.0/33:80", "::1:80",        "[127.0.0.1]:80",
        "[::1]",           "host",           "host:0",         "host:65536",    "host:080",
        "host:9-8",        "host:-1",        "host:1-",        "-bad.org:80",   "a..b:80",
        "exa_mple.org:80", "unix:relative",  "unix:/a/../b",   "unix:/a//b",    "[fe80::1%lo]:80",
        "host:+80",        "10.0.0.0/-1:80", "10.0.0.0/:80"}) {
    EXPECT_FALSE(EndpointPattern::Parse(text).ok()) << text;
  }
  absl::StatusOr<EndpointPattern> numeric = EndpointPattern::Parse("127.1:80");
  EXPECT_THAT(std::string(numeric.status().message()), HasSubstr("non-standard spelling"));
  EXPECT_FALSE(EndpointPattern::Parse(std::string("unix:/a\0b", 9)).ok());
  EXPECT_FALSE(EndpointPattern::Parse("unix:/" + std::string(200, 'x')).ok());
}

TEST(EndpointPatternTest, MatchesAddressesPortsAndFamilies) {
  EndpointPattern cidr = P("10.0.0.0/8:443");
  EXPECT_TRUE(cidr.MatchesAddress(*IpAddress::Parse("10.9.9.9"), 443));
  EXPECT_FALSE(cidr.MatchesAddress(*IpAddress::Parse("10.9.9.9"), 444));
  EXPECT_FALSE(cidr.MatchesAddress(*IpAddress::Parse("11.0.0.1"), 443));
  // Mapped IPv6 spelling of a granted IPv4 address is the same address.
  EXPECT_TRUE(cidr.MatchesAddress(*IpAddress::Parse("::ffff:10.0.0.1"), 443));
  EXPECT_FALSE(cidr.MatchesAddress(*IpAddress::Parse("::a00:1"), 443));
  EndpointPattern v6 = P("[::1]:8000-8002");
  EXPECT_TRUE(v6.MatchesAddress(*IpAddress::Parse("::1"), 8002));
  EXPECT_FALSE(v6.MatchesAddress(*IpAddress::Parse("::1"), 8003));
  EXPECT_FALSE(v6.MatchesAddress(*IpAddress::Parse("127.0.0.1"), 8000));
  EXPECT_TRUE(P("db.local:5432").MatchesName("db.local", 5432));
  EXPECT_FALSE(P("db.local:5432").MatchesName("db.local.evil", 5432));
  EXPECT_TRUE(P("unix:/run/a.sock").MatchesUnix("/run/a.sock"));
  EXPECT_FALSE(P("unix:/run/a.sock").MatchesUnix("/run/a.sock2"));
}

TEST(EndpointPatternTest, CoversOnlyNarrowerPatternsOfTheSameKind) {
  EXPECT_TRUE(P("10.0.0.0/8:1-65535").Covers(P("10.1.0.0/16:443")));
  EXPECT_TRUE(P("10.0.0.0/8:443").Covers(P("10.1.2.3:443")));
  EXPECT_FALSE(P("10.1.0.0/16:443").Covers(P("10.0.0.0/8:443")));
  EXPECT_FALSE(P("10.0.0.0/8:443").Covers(P("10.1.2.3:443-444")));
  EXPECT_FALSE(P("10.0.0.0/8:443").Covers(P("[::ffff:b00:1]:443")));
  EXPECT_TRUE(P("example.org:1-1024").Covers(P("EXAMPLE.org:443")));
  EXPECT_FALSE(P("example.org:443").Covers(P("www.example.org:443")));
  // A name bound never admits an address and vice versa: resolution could point anywhere.
  EXPECT_FALSE(P("example.org:443").Covers(P("93.184.216.34:443")));
  EXPECT_FALSE(P("0.0.0.0/0:443").Covers(P("example.org:443")));
  EXPECT_TRUE(P("*:443").Covers(P("example.org:443")));
  EXPECT_TRUE(P("*:443").Covers(P("*:443")));
  EXPECT_FALSE(P("*:443").Covers(P("example.org:80")));
  EXPECT_FALSE(P("*:443").Covers(P("10.0.0.1:443")));
  EXPECT_FALSE(P("example.org:443").Covers(P("*:443")));
  EXPECT_TRUE(P("*:443").MatchesName("any.example.net", 443));
  EXPECT_FALSE(P("*:443").MatchesAddress(*IpAddress::Parse("8.8.8.8"), 443));
  EXPECT_TRUE(P("unix:/run/a.sock").Covers(P("unix:/run/a.sock")));
  EXPECT_FALSE(P("unix:/run/a.sock").Covers(P("unix:/run/b.sock")));
}

}  // namespace
}  // namespace cordon::broker
