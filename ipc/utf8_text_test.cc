#include "ipc/utf8_text.h"

#include <string>

#include "gtest/gtest.h"

namespace cordon::ipc {
namespace {

TEST(Utf8TextTest, ValidatesStrictly) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // cut sequence
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(Utf8TextTest, PrefixNeverSplitsASequence) {
  // "a" then é (2 bytes) then € (3 bytes).
  const std::string s = "a\xc3\xa9\xe2\x82\xac";
  EXPECT_EQ(Utf8Prefix(s, 100), s);
  EXPECT_EQ(Utf8Prefix(s, 2), "a");
  EXPECT_EQ(Utf8Prefix(s, 3), "a\xc3\xa9");
  EXPECT_EQ(Utf8Prefix(s, 5), "a\xc3\xa9");
  EXPECT_EQ(Utf8Prefix(s, 0), "");
}

TEST(Utf8TextTest, ValidPrefixSeesTheSequenceAcrossTheCut) {
  absl::string_view prefix;
  const std::string s = "ab\xe2\x82\xac";  // "ab€"
  ASSERT_TRUE(ValidUtf8Prefix(s, 3, &prefix));
  EXPECT_EQ(prefix, "ab");
  ASSERT_TRUE(ValidUtf8Prefix(s, 100, &prefix));
  EXPECT_EQ(prefix, s);
  // Continuation bytes alone are binary, not an empty text.
  EXPECT_FALSE(ValidUtf8Prefix(std::string(10, '\x80'), 4, &prefix));
  EXPECT_FALSE(ValidUtf8Prefix("ab\xe2\x82", 100, &prefix));  // cut by its own end
  EXPECT_FALSE(
      ValidUtf8Prefix("a\xff"
                      "b",
                      100, &prefix));
}

TEST(Utf8TextTest, ProtoTextKeepsTextAndEscapesTheRest) {
  EXPECT_EQ(ToProtoText("caf\xc3\xa9", 100), "caf\xc3\xa9");
  // NUL is valid UTF-8 (U+0000) and stays; the stray 0xff does not.
  EXPECT_EQ(ToProtoText(std::string("a\xff\0b", 4), 100), std::string("a\\xff\0b", 7));
  EXPECT_EQ(ToProtoText("\xc3", 100), "\\xc3");
  EXPECT_TRUE(IsValidUtf8(ToProtoText("\xed\xa0\x80\xc0\xaf", 100)));
}

TEST(Utf8TextTest, ProtoTextIsCutWithAMarkerWithinTheCap) {
  // 8191 ASCII bytes then a 2-byte é across the 8192 boundary: the cut must not split it.
  std::string s(8191, 'a');
  s += "\xc3\xa9";
  s += std::string(100, 'b');
  std::string out = ToProtoText(s, 8192);
  EXPECT_LE(out.size(), 8192u);
  EXPECT_TRUE(IsValidUtf8(out));
  EXPECT_NE(out.find("...[cut, 8293 bytes]"), std::string::npos) << out.substr(8150);
  // Binary input, far over the cap: only escapes and the marker, never half an escape.
  std::string binary(1 << 20, '\xfe');
  out = ToProtoText(binary, 100);
  EXPECT_LE(out.size(), 100u);
  EXPECT_TRUE(IsValidUtf8(out));
  size_t marker = out.find("...[cut, 1048576 bytes]");
  ASSERT_NE(marker, std::string::npos);
  EXPECT_EQ(marker % 4, 0u) << out;
  // A cap smaller than the marker still holds.
  EXPECT_LE(ToProtoText(std::string(50, 'x'), 8).size(), 8u);
}

}  // namespace
}  // namespace cordon::ipc
