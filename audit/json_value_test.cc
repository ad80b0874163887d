#include "audit/json_value.h"

#include <string>

#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

TEST(JsonValueTest, ParsesObjectInOrder) {
  auto v = JsonValue::Parse(R"({"b":1,"a":"x","c":[true,false,null],"d":{"e":-1.5e3}})");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->is_object());
  ASSERT_EQ(v->object().size(), 4u);
  EXPECT_EQ(v->object()[0].first, "b");
  uint64_t b = 0;
  EXPECT_TRUE(v->Find("b")->ToUint64(&b));
  EXPECT_EQ(b, 1u);
  EXPECT_EQ(v->Find("a")->string_value(), "x");
  EXPECT_EQ(v->Find("c")->array().size(), 3u);
  EXPECT_DOUBLE_EQ(v->Find("d")->Find("e")->number_value(), -1500.0);
  EXPECT_EQ(v->Find("zz"), nullptr);
}

TEST(JsonValueTest, LargeIntegersExact) {
  auto v = JsonValue::Parse("18446744073709551615");
  ASSERT_TRUE(v.ok());
  uint64_t u = 0;
  EXPECT_TRUE(v->ToUint64(&u));
  EXPECT_EQ(u, UINT64_MAX);
}

TEST(JsonValueTest, UnicodeEscapes) {
  auto v = JsonValue::Parse(R"("\u00e9\ud83d\ude00\n")");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->string_value(), "\xc3\xa9\xf0\x9f\x98\x80\n");
}

TEST(JsonValueTest, RejectsMalformed) {
  for (const char* bad : {"", "{", "{\"a\"}", "{\"a\":}", "[1,]", "\"abc", "\"a\nb\"",
                          "\"\\ud800\"", "tru", "01x", "{} x", "\"\xff\"", "-", "1.", "1e"}) {
    EXPECT_FALSE(JsonValue::Parse(bad).ok()) << bad;
  }
}

TEST(JsonValueTest, DepthCapped) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(JsonValue::Parse(deep).ok());
  std::string ok(20, '[');
  ok += std::string(20, ']');
  EXPECT_TRUE(JsonValue::Parse(ok).ok());
}

TEST(JsonValueTest, ToTextRoundTrips) {
  const std::string text = R"({"a":"x\ny","b":[1,2],"c":{"d":true}})";
  auto v = JsonValue::Parse(text);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->ToText(), text);
}

}  // namespace
}  // namespace cordon::audit
