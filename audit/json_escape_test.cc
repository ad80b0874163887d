#include "audit/json_escape.h"

#include <string>

#include "audit/json_value.h"
#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

std::string Enc(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

std::string RoundTrip(std::string_view s) {
  auto v = JsonValue::Parse(Enc(s));
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? v->string_value() : "";
}

TEST(JsonEscapeTest, PlainAsciiUnchanged) { EXPECT_EQ(Enc("hello /tmp/x"), "\"hello /tmp/x\""); }

TEST(JsonEscapeTest, NewlineCannotEndTheLine) {
  const std::string forged = "x\"}\n{\"seq\":99,\"type\":\"plugin.start\"}";
  const std::string enc = Enc(forged);
  EXPECT_EQ(enc.find('\n'), std::string::npos);
  EXPECT_EQ(RoundTrip(forged), forged);
}

TEST(JsonEscapeTest, QuoteAndBackslashEscaped) { EXPECT_EQ(Enc("a\"b\\c"), "\"a\\\"b\\\\c\""); }

TEST(JsonEscapeTest, EveryControlCharacterEscaped) {
  for (int c = 0; c < 0x20; ++c) {
    const std::string enc = Enc(std::string(1, static_cast<char>(c)));
    for (char ch : enc) EXPECT_GE(static_cast<unsigned char>(ch), 0x20) << "char " << c;
    EXPECT_EQ(RoundTrip(std::string(1, static_cast<char>(c))),
              std::string(1, static_cast<char>(c)));
  }
  EXPECT_EQ(Enc("\x7f"), "\"\\u007f\"");
}

TEST(JsonEscapeTest, TerminalEscapesAndLineSeparatorsEscaped) {
  EXPECT_EQ(Enc("\x1b[2J"), "\"\\u001b[2J\"");
  EXPECT_EQ(Enc("a\xe2\x80\xa8"
                "b"),
            "\"a\\u2028b\"");
  EXPECT_EQ(Enc("\xe2\x80\xa9"), "\"\\u2029\"");
  EXPECT_EQ(Enc("\xc2\x9b"), "\"\\u009b\"");  // C1 CSI
}

TEST(JsonEscapeTest, InvalidUtf8Replaced) {
  std::string out;
  EXPECT_FALSE(AppendJsonString(&out,
                                "a\xff"
                                "b"));
  EXPECT_EQ(out,
            "\"a\xef\xbf\xbd"
            "b\"");
  // Overlong encoding of '/', a classic path-filter bypass.
  out.clear();
  EXPECT_FALSE(AppendJsonString(&out, "\xc0\xaf"));
  EXPECT_EQ(out.find('/'), std::string::npos);
  // Surrogate half and truncated sequence.
  out.clear();
  EXPECT_FALSE(AppendJsonString(&out, "\xed\xa0\x80"));
  out.clear();
  EXPECT_FALSE(AppendJsonString(&out, "\xe2\x82"));
  EXPECT_TRUE(IsValidUtf8(out));
}

TEST(JsonEscapeTest, ValidUtf8Kept) {
  std::string out;
  EXPECT_TRUE(AppendJsonString(&out, "caf\xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_EQ(out, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
}

TEST(JsonEscapeTest, HexEncode) { EXPECT_EQ(HexEncode(std::string("\x00\xff", 2)), "00ff"); }

}  // namespace
}  // namespace cordon::audit
