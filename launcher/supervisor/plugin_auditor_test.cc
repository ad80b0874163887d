#include "launcher/supervisor/plugin_auditor.h"

#include <linux/audit.h>

#include <map>
#include <memory>
#include <string>

#include "audit/json_value.h"
#include "gtest/gtest.h"
#include "launcher/supervisor/testing/audit_capture.h"

namespace cordon::supervisor {
namespace {

int64_t IntOf(const audit::JsonValue& record, const char* key, int64_t fallback) {
  const audit::JsonValue* f = record.Find(key);
  int64_t out = fallback;
  if (f != nullptr) f->ToInt64(&out);
  return out;
}

// Two different numbers with no name (both "unknown") are two syscalls: a burst of each is
// counted in its own window and record, each showing its own number.
TEST(PluginAuditorTest, BurstsOfDifferentUnknownNumbersAreCountedApart) {
  testing::AuditCapture capture;
  PluginAuditor& auditor = capture.auditor();
  constexpr int kEach = 250;  // well past the individual records of one window
  for (int i = 0; i < kEach; ++i) {
    for (int32_t nr : {1000, 1001}) {
      SeccompViolation v;
      v.arch = AUDIT_ARCH_X86_64;
      v.nr = nr;
      v.name = "unknown";
      v.arch_name = "x86_64";
      v.args[0] = static_cast<uint64_t>(i);
      ASSERT_TRUE(auditor.RecordViolation(v, "eperm").ok());
    }
  }
  ASSERT_TRUE(auditor.FlushViolationCounts(/*all=*/true).ok());
  const uint64_t counted = auditor.violation_counts().at("unknown");

  // Every call is accounted for under its own number: one per record plus each record's
  // `suppressed` further calls.
  std::map<int64_t, int64_t> calls;
  std::map<int64_t, int> folded;
  for (const audit::JsonValue& record : capture.Records()) {
    const int64_t nr = IntOf(record, "nr", -1);
    const int64_t suppressed = IntOf(record, "suppressed", 0);
    calls[nr] += 1 + suppressed;
    if (suppressed > 0) ++folded[nr];
  }
  EXPECT_EQ(calls[1000], kEach);
  EXPECT_EQ(calls[1001], kEach);
  EXPECT_GE(folded[1000], 1) << "the burst of nr 1000 was not folded into a counted record";
  EXPECT_GE(folded[1001], 1);
  EXPECT_EQ(counted, 2u * kEach);
}

}  // namespace
}  // namespace cordon::supervisor
