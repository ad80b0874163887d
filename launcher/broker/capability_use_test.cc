#include "launcher/broker/capability_use.h"

#include <string>

#include "audit/json_value.h"
#include "gtest/gtest.h"

namespace cordon::broker {
namespace {

// The record's own fields as the audit writer would put them in the line.
audit::JsonValue Fields(const audit::AuditRecord& record) {
  std::string json;
  record.AppendFieldsJson(&json);
  std::string object = "{" + (json.empty() ? "" : json.substr(1)) + "}";
  absl::StatusOr<audit::JsonValue> parsed = audit::JsonValue::Parse(object);
  EXPECT_TRUE(parsed.ok()) << parsed.status() << " " << object;
  return parsed.ok() ? *parsed : audit::JsonValue();
}

std::string Str(const audit::JsonValue& v, const char* key) {
  const audit::JsonValue* f = v.Find(key);
  return f != nullptr && f->is_string() ? f->string_value() : "<absent>";
}

uint64_t Num(const audit::JsonValue& v, const char* key) {
  const audit::JsonValue* f = v.Find(key);
  uint64_t n = 0;
  EXPECT_TRUE(f != nullptr && f->ToUint64(&n)) << key;
  return n;
}

TEST(CapabilityUseTest, AllowedOpenCarriesTargetResolvedLatencyAndId) {
  CapabilityUse use;
  use.request_id = 42;
  use.capability = "fs.read";
  use.target = "/data/a.txt";
  use.resolved = "/srv/plugin-data/a.txt";
  use.decision = Decision::kAllow;
  use.latency = absl::Microseconds(1234);
  audit::AuditRecord record = use.ToAuditRecord();
  EXPECT_EQ(record.type(), "capability.use");
  EXPECT_EQ(record.decision(), "allow");
  audit::JsonValue f = Fields(record);
  EXPECT_EQ(Str(f, "capability"), "fs.read");
  EXPECT_EQ(Str(f, "target"), "/data/a.txt");
  EXPECT_EQ(Str(f, "resolved"), "/srv/plugin-data/a.txt");
  EXPECT_EQ(Str(f, "code"), "OK");
  EXPECT_EQ(Num(f, "latency_us"), 1234u);
  EXPECT_EQ(Num(f, "request_id"), 42u);
  EXPECT_EQ(f.Find("reason"), nullptr);
}

TEST(CapabilityUseTest, DenialCarriesReasonAndCodeButNoResolution) {
  CapabilityUse use;
  use.capability = "fs.read";
  use.target = std::string("/data/\n{\"forged\":1}\xff", 20);
  use.decision = Decision::kDeny;
  use.reason = "no grant covers /data/..";
  use.code = absl::StatusCode::kPermissionDenied;
  audit::AuditRecord record = use.ToAuditRecord();
  EXPECT_EQ(record.decision(), "deny");
  audit::JsonValue f = Fields(record);
  EXPECT_EQ(f.Find("resolved"), nullptr);
  EXPECT_EQ(Str(f, "reason"), "no grant covers /data/..");
  EXPECT_EQ(Str(f, "code"), "PERMISSION_DENIED");
  // The plugin's bytes stay one string value: no forged field appears.
  EXPECT_EQ(f.Find("forged"), nullptr);
}

TEST(CapabilityUseTest, EffectAndResultRecords) {
  CapabilityUse use;
  use.request_id = 3;
  use.capability = "net.connect";
  use.target = "api.example.org:443";
  use.resolved = "93.184.216.34:443,[2606:2800::1]:443";
  use.decision = Decision::kAllow;
  use.effect = "connect";
  audit::AuditRecord decided = use.ToAuditRecord();
  EXPECT_EQ(decided.type(), "capability.use");
  EXPECT_EQ(decided.decision(), "allow");
  EXPECT_EQ(Str(Fields(decided), "effect"), "connect");
  use.phase = CapabilityUse::Phase::kResult;
  use.code = absl::StatusCode::kUnavailable;
  use.reason = "connection refused";
  audit::AuditRecord result = use.ToAuditRecord();
  EXPECT_EQ(result.type(), "capability.result");
  EXPECT_EQ(result.decision(), "");
  audit::JsonValue f = Fields(result);
  EXPECT_EQ(Str(f, "code"), "UNAVAILABLE");
  EXPECT_EQ(Str(f, "effect"), "connect");
  EXPECT_EQ(Num(f, "request_id"), 3u);
  // No effect, no field.
  CapabilityUse plain;
  EXPECT_EQ(Fields(plain.ToAuditRecord()).Find("effect"), nullptr);
}

TEST(LogEntryTest, OneEscapedLineWithLevelAndFields) {
  LogEntry e;
  e.level = "WARNING";
  e.message = "two\nlines \x1b[2J\xc2\x9b\xe2\x80\xae caf\xc3\xa9 \\ \xff";
  e.fields = {{"path", "/data/\"x\""}, {"k\n", "v"}};
  e.dropped_before = 3;
  EXPECT_EQ(e.ToLine(),
            "WARNING two\\nlines \\x1b[2J\\u{009b}\\u{202e} caf\xc3\xa9 \\\\ \\xff "
            "k\\n=\"v\" path=\"/data/\\\"x\\\"\" (3 lines dropped before)");
  LogEntry bare;
  bare.message = "hi";
  EXPECT_EQ(bare.ToLine(), "INFO hi");
}

TEST(QuotaHitTest, FoldedRecordCarriesCountAndWindowStart) {
  QuotaHit hit;
  hit.quota = "broker_request_rate";
  hit.limit = 50;
  hit.count = 37;
  hit.window_start = absl::FromUnixSeconds(1700000000);
  audit::AuditRecord record = hit.ToAuditRecord();
  EXPECT_EQ(record.type(), "quota.violation");
  EXPECT_EQ(record.decision(), "deny");
  audit::JsonValue f = Fields(record);
  EXPECT_EQ(Str(f, "quota"), "broker_request_rate");
  EXPECT_EQ(Str(f, "action"), "denied");
  EXPECT_EQ(Num(f, "count"), 37u);
  EXPECT_EQ(Num(f, "limit"), 50u);
  EXPECT_EQ(Str(f, "window_start").substr(0, 19), "2023-11-14T22:13:20");
  QuotaHit single;
  single.quota = "broker_held_fds";
  EXPECT_EQ(Fields(single.ToAuditRecord()).Find("window_start"), nullptr);
}

}  // namespace
}  // namespace cordon::broker
