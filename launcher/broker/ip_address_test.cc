#include "launcher/broker/ip_address.h"

#include <string>

#include "gtest/gtest.h"

namespace cordon::broker {
namespace {

TEST(IpAddressTest, ParsesStrictDottedQuadAndIpv6) {
  ASSERT_TRUE(IpAddress::Parse("127.0.0.1").has_value());
  EXPECT_TRUE(IpAddress::Parse("127.0.0.1")->is_v4());
  ASSERT_TRUE(IpAddress::Parse("::1").has_value());
  EXPECT_FALSE(IpAddress::Parse("::1")->is_v4());
  EXPECT_EQ(IpAddress::Parse("2001:db8::1")->ToString(), "2001:db8::1");
}

TEST(IpAddressTest, RejectsNonStandardNumericSpellings) {
  for (const char* text : {"127.1", "2130706433", "0x7f.1", "0177.0.0.1", "0x7f000001",
                           "127.0.0.01", "127.0.0.1 ", " 127.0.0.1", "127.0.0.1.", "1.2.3.256",
                           "fe80::1%eth0", "[::1]", "", "localhost", "::1/128"}) {
    EXPECT_FALSE(IpAddress::Parse(text).has_value()) << text;
  }
  EXPECT_FALSE(IpAddress::Parse(std::string("127.0.0.1\0.5", 11)).has_value());
}

TEST(IpAddressTest, NormalisesIpv4MappedIpv6) {
  auto mapped = IpAddress::Parse("::ffff:10.1.2.3");
  ASSERT_TRUE(mapped.has_value());
  EXPECT_TRUE(mapped->is_v4());
  EXPECT_EQ(mapped->ToString(), "10.1.2.3");
  EXPECT_EQ(*mapped, *IpAddress::Parse("10.1.2.3"));
  auto hex_mapped = IpAddress::Parse("::ffff:7f00:1");
  ASSERT_TRUE(hex_mapped.has_value());
  EXPECT_EQ(hex_mapped->ToString(), "127.0.0.1");
  // IPv4-compatible (deprecated) is not mapped: it stays IPv6, and is internal.
  auto compat = IpAddress::Parse("::127.0.0.1");
  ASSERT_TRUE(compat.has_value());
  EXPECT_FALSE(compat->is_v4());
  EXPECT_TRUE(compat->IsInternal());
}

TEST(IpAddressTest, PrefixMatching) {
  IpAddress net = *IpAddress::Parse("10.0.0.0");
  EXPECT_TRUE(IpAddress::Parse("10.255.1.2")->InPrefix(net, 8));
  EXPECT_FALSE(IpAddress::Parse("11.0.0.1")->InPrefix(net, 8));
  EXPECT_TRUE(IpAddress::Parse("10.0.0.1")->InPrefix(*IpAddress::Parse("10.0.0.0"), 31));
  EXPECT_FALSE(IpAddress::Parse("10.0.0.2")->InPrefix(*IpAddress::Parse("10.0.0.0"), 31));
  // Never across families.
  EXPECT_FALSE(IpAddress::Parse("::1")->InPrefix(net, 0));
  EXPECT_TRUE(IpAddress::Parse("fd12::1")->InPrefix(*IpAddress::Parse("fc00::"), 7));
  EXPECT_TRUE(IpAddress::Parse("10.0.0.0")->HostBitsZero(8));
  EXPECT_FALSE(IpAddress::Parse("10.0.0.1")->HostBitsZero(8));
  EXPECT_TRUE(IpAddress::Parse("fd00::")->HostBitsZero(8));
  EXPECT_FALSE(IpAddress::Parse("fd00::1")->HostBitsZero(64));
}

TEST(IpAddressTest, InternalRanges) {
  for (const char* text :
       {"127.0.0.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.1.1", "0.0.0.0",
        "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "ff02::1",
        "::ffff:127.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::1"}) {
    EXPECT_TRUE(IpAddress::Parse(text)->IsInternal()) << text;
  }
  for (const char* text : {"8.8.8.8", "93.184.216.34", "2606:4700::1111", "2a00:1450::1", "1.1.1.1",
                           "2001:4860:4860::8888"}) {
    EXPECT_FALSE(IpAddress::Parse(text)->IsInternal()) << text;
  }
}

// Ranges that embed or translate an IPv4 address (a gateway may map them to the host's
// loopback or LAN) and the documentation, benchmarking and reserved ranges: a DNS answer
// naming any of them is not dialled on a name grant. Each range is probed at both ends.
TEST(IpAddressTest, EmbeddingDocumentationAndReservedRangesAreInternal) {
  for (const char* text :
       {// Teredo 2001::/32 (server 127.0.0.1 / client 10.0.0.1 embedded).
        "2001::", "2001:0:7f00:1::f5ff:fffe", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
        // 6to4 2002::/16.
        "2002::", "2002:a00:1::1", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        // NAT64 64:ff9b::/96 and 64:ff9b:1::/48.
        "64:ff9b::7f00:1", "64:ff9b::ffff:ffff", "64:ff9b:1::", "64:ff9b:1:ffff::1",
        // IPv4-translated ::ffff:0:0:0/96 and IPv4-compatible ::/96.
        "::ffff:0:7f00:1", "::ffff:0:a00:1", "::ffff:0:ffff:ffff", "::7f00:1", "::a00:1",
        // Documentation, benchmarking, discard, ORCHID, SRv6.
        "2001:db8::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "3fff::1", "2001:2::1",
        "2001:10::1", "2001:20::1", "100::1", "5f00::1",
        // IPv4 documentation, benchmarking, CGNAT, reserved, 6to4 relay.
        "192.0.2.0", "192.0.2.255", "198.51.100.7", "203.0.113.255", "198.18.0.1", "198.19.255.255",
        "100.64.0.0", "100.127.255.255", "240.0.0.1", "254.255.255.255", "192.88.99.1",
        "192.0.0.8"}) {
    std::optional<IpAddress> a = IpAddress::Parse(text);
    ASSERT_TRUE(a.has_value()) << text;
    EXPECT_TRUE(a->IsInternal()) << text;
  }
  // Just outside some of them.
  for (const char* text :
       {"198.17.255.255", "198.20.0.0", "100.63.255.255", "100.128.0.0", "192.0.3.0", "203.0.114.0",
        "2001:1::1", "2001:db9::1", "64:ff9b:2::1", "2003::1"}) {
    std::optional<IpAddress> a = IpAddress::Parse(text);
    ASSERT_TRUE(a.has_value()) << text;
    EXPECT_FALSE(a->IsInternal()) << text;
  }
}

TEST(IpAddressTest, SockaddrRoundTrip) {
  for (const char* text : {"127.0.0.1", "::1"}) {
    IpAddress a = *IpAddress::Parse(text);
    sockaddr_storage ss;
    socklen_t len = a.ToSockaddr(8080, &ss);
    auto back = IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, a);
  }
  EXPECT_EQ(IpAddress::Parse("::1")->ToStringWithPort(80), "[::1]:80");
  EXPECT_EQ(IpAddress::Parse("1.2.3.4")->ToStringWithPort(80), "1.2.3.4:80");
}

}  // namespace
}  // namespace cordon::broker
