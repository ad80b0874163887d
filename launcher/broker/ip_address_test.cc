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
  for (const char* text : {"8.8.8.8", "93.184.216.34", "2001:db8::1", "2606:4700::1111"}) {
    EXPECT_FALSE(IpAddress::Parse(text)->IsInternal()) << text;
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
