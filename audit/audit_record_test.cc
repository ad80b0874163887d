#include "audit/audit_record.h"

#include <string>
#include <vector>

#include "audit/json_value.h"
#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

// Wraps the fields in an object so they can be parsed back.
JsonValue Fields(const AuditRecord& r) {
  std::string s = "{\"type\":\"" + std::string(r.type()) + "\"";
  r.AppendPluginAndDecisionJson(&s);
  r.AppendFieldsJson(&s);
  s += "}";
  auto v = JsonValue::Parse(s);
  EXPECT_TRUE(v.ok()) << v.status() << " in " << s;
  return v.ok() ? *v : JsonValue();
}

TEST(AuditRecordTest, AllOverloadsProduceTypedValues) {
  AuditRecord r("plugin.exit");
  r.Set("s", std::string_view("v"))
      .Set("c", "cstr")
      .Set("str", std::string("x"))
      .Set("i", 3)
      .Set("i64", int64_t{-5})
      .Set("u64", uint64_t{18446744073709551615u})
      .Set("u", 7u)
      .Set("ll", -9LL)
      .Set("ull", 9ULL)
      .Set("d", 1.5)
      .Set("b", true)
      .Set("nan", 0.0 / 0.0);
  const JsonValue v = Fields(r);
  EXPECT_EQ(v.Find("s")->string_value(), "v");
  EXPECT_EQ(v.Find("c")->string_value(), "cstr");
  EXPECT_EQ(v.Find("str")->string_value(), "x");
  EXPECT_EQ(v.Find("i")->string_value(), "3");
  EXPECT_EQ(v.Find("i64")->string_value(), "-5");
  EXPECT_EQ(v.Find("u64")->string_value(), "18446744073709551615");
  EXPECT_EQ(v.Find("u")->string_value(), "7");
  EXPECT_EQ(v.Find("ll")->string_value(), "-9");
  EXPECT_EQ(v.Find("ull")->string_value(), "9");
  EXPECT_DOUBLE_EQ(v.Find("d")->number_value(), 1.5);
  EXPECT_TRUE(v.Find("b")->bool_value());
  EXPECT_EQ(v.Find("nan")->kind(), JsonValue::Kind::kNull);
  EXPECT_TRUE(r.status().ok());
}

TEST(AuditRecordTest, ArraysObjectsPluginDecision) {
  std::vector<std::string> argv = {"/bin/x", "--evil\n{\"seq\":1}"};
  std::vector<uint64_t> args = {1, 2, 3, 4, 5, 6};
  AuditRecord nested("x");
  nested.Set("inside", 0).Set("uid", 1000);
  AuditRecord r("plugin.start");
  r.SetStrings("argv", argv).SetInts("args", args).SetObject("uid_map", nested);
  r.SetPlugin("p-1", "name\n", "1.0").SetDecision("deny");
  const JsonValue v = Fields(r);
  ASSERT_EQ(v.Find("argv")->array().size(), 2u);
  EXPECT_EQ(v.Find("argv")->array()[1].string_value(), argv[1]);
  EXPECT_EQ(v.Find("args")->array().size(), 6u);
  EXPECT_EQ(v.Find("uid_map")->Find("uid")->string_value(), "1000");
  EXPECT_EQ(v.Find("plugin")->Find("name")->string_value(), "name\n");
  EXPECT_EQ(v.Find("decision")->string_value(), "deny");
  EXPECT_EQ(r.decision(), "deny");
}

TEST(AuditRecordTest, ReservedAndInvalidKeysRejected) {
  EXPECT_FALSE(AuditRecord("x").Set("seq", 1).status().ok());
  EXPECT_FALSE(AuditRecord("x").Set("hash", "h").status().ok());
  EXPECT_FALSE(AuditRecord("x").Set("Bad Key", 1).status().ok());
  EXPECT_FALSE(AuditRecord("x").Set("", 1).status().ok());
  EXPECT_FALSE(AuditRecord("x").Set("a\"b", 1).status().ok());
  EXPECT_FALSE(AuditRecord("Bad\nType").status().ok());
  EXPECT_FALSE(AuditRecord("").status().ok());
  EXPECT_TRUE(AuditRecord("seccomp.violation").Set("nr", 1).status().ok());
}

TEST(AuditRecordTest, ResetKeyKeepsPositionAndReplaces) {
  AuditRecord r("x");
  r.Set("a", 1).Set("b", 2).Set("a", 3);
  const JsonValue v = Fields(r);
  ASSERT_EQ(v.object().size(), 3u);  // type, a, b
  EXPECT_EQ(v.object()[1].first, "a");
  EXPECT_EQ(v.object()[1].second.string_value(), "3");
}

TEST(AuditRecordTest, LongValuesCutWithOriginalLength) {
  const std::string big(10000, 'a');
  AuditRecord r("x");
  r.Set("path", big);
  const JsonValue v = Fields(r);
  EXPECT_EQ(v.Find("path")->string_value().size(), AuditRecord::kMaxStringBytes);
  EXPECT_EQ(v.Find("path_len")->string_value(), "10000");
}

TEST(AuditRecordTest, InvalidUtf8KeepsExactBytesInHex) {
  AuditRecord r("capability.use");
  r.Set("path", std::string_view("/tmp/\xff\x01", 7));
  const JsonValue v = Fields(r);
  EXPECT_EQ(v.Find("path")->string_value(), "/tmp/\xef\xbf\xbd\x01");
  EXPECT_EQ(v.Find("path_hex")->string_value(), "2f746d702fff01");
}

// Plugin-scoped records name the plugin's sandbox by its host pid once it exists.
TEST(AuditRecordTest, PluginObjectCarriesTheHostPidOnceKnown) {
  PluginIdentity identity{"demo-1-2", "demo", "1.0", 0};
  AuditRecord before("plugin.load");
  before.SetPlugin(identity);
  const JsonValue b = Fields(before);
  EXPECT_EQ(b.Find("plugin")->Find("id")->string_value(), "demo-1-2");
  EXPECT_EQ(b.Find("plugin")->Find("host_pid"), nullptr);
  identity.host_pid = 4242;
  AuditRecord after("capability.use");
  after.SetPlugin(identity);
  const JsonValue a = Fields(after);
  ASSERT_NE(a.Find("plugin")->Find("host_pid"), nullptr);
  EXPECT_EQ(a.Find("plugin")->Find("host_pid")->string_value(), "4242");
  EXPECT_EQ(a.Find("plugin")->object().size(), 4u);
  EXPECT_EQ(a.Find("host_pid"), nullptr) << "a record's own host_pid field stays free";
}

TEST(AuditRecordTest, InvalidUtf8InArraysAndPluginKeepsExactBytes) {
  const std::vector<std::string> argv = {"/bin/x",
                                         std::string("a\xff"
                                                     "b",
                                                     3),
                                         "ok"};
  AuditRecord r("plugin.start");
  r.SetStrings("argv", argv);
  r.SetPlugin(std::string("n\xc3", 2), "name", std::string("1.\x80", 3), 7);
  const JsonValue v = Fields(r);
  const JsonValue* hex = v.Find("argv_hex");
  ASSERT_NE(hex, nullptr);
  ASSERT_EQ(hex->array().size(), 3u);
  EXPECT_EQ(hex->array()[0].kind(), JsonValue::Kind::kNull);
  EXPECT_EQ(hex->array()[1].string_value(), "61ff62");
  EXPECT_EQ(hex->array()[2].kind(), JsonValue::Kind::kNull);
  const JsonValue* plugin = v.Find("plugin");
  EXPECT_EQ(plugin->Find("id_hex")->string_value(), "6ec3");
  EXPECT_EQ(plugin->Find("name_hex"), nullptr);
  EXPECT_EQ(plugin->Find("version_hex")->string_value(), "312e80");
  EXPECT_EQ(plugin->Find("host_pid")->string_value(), "7");
  // Clean arrays get no sibling.
  AuditRecord clean("plugin.start");
  clean.SetStrings("argv", {"/bin/x", "y"});
  EXPECT_EQ(Fields(clean).Find("argv_hex"), nullptr);
}

TEST(AuditRecordTest, LongArrayItemsKeepTheirOriginalLengthAtTheirIndex) {
  const std::vector<std::string> argv = {"/bin/x", std::string(10000, 'a'), "ok"};
  AuditRecord r("plugin.start");
  r.SetStrings("argv", argv);
  const JsonValue v = Fields(r);
  ASSERT_EQ(v.Find("argv")->array().size(), 3u);
  EXPECT_EQ(v.Find("argv")->array()[1].string_value().size(), AuditRecord::kMaxStringBytes);
  const JsonValue* lens = v.Find("argv_item_lens");
  ASSERT_NE(lens, nullptr);
  ASSERT_EQ(lens->array().size(), 3u);
  EXPECT_EQ(lens->array()[0].kind(), JsonValue::Kind::kNull);
  EXPECT_EQ(lens->array()[1].string_value(), "10000");
  EXPECT_EQ(lens->array()[2].kind(), JsonValue::Kind::kNull);
  EXPECT_EQ(v.Find("argv_len"), nullptr);  // the count was not cut
  AuditRecord whole("plugin.start");
  whole.SetStrings("argv", {"/bin/x", "y"});
  EXPECT_EQ(Fields(whole).Find("argv_item_lens"), nullptr);
}

TEST(AuditRecordTest, IntArraysOverTheItemCapRecordTheirCount) {
  std::vector<uint64_t> args(AuditRecord::kMaxArrayItems + 5, 1);
  AuditRecord r("seccomp.violation");
  r.SetInts("args", args);
  const JsonValue v = Fields(r);
  EXPECT_EQ(v.Find("args")->array().size(), AuditRecord::kMaxArrayItems);
  EXPECT_EQ(v.Find("args_len")->string_value(), "261");
}

}  // namespace
}  // namespace cordon::audit
