#include "launcher/supervisor/plugin_auditor.h"

#include <linux/audit.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
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

std::string StringOf(const audit::JsonValue& record, const char* key) {
  const audit::JsonValue* f = record.Find(key);
  return f == nullptr ? "" : f->string_value();
}

SeccompViolation Violation(int32_t nr, const std::string& name, uint64_t arg0 = 0) {
  SeccompViolation v;
  v.arch = AUDIT_ARCH_X86_64;
  v.nr = nr;
  v.name = name;
  v.arch_name = "x86_64";
  v.args[0] = arg0;
  return v;
}

// What the notifier makes of the kernel's notification of (x86_64, nr): named by libseccomp.
SeccompViolation Decoded(int32_t nr) {
  struct seccomp_notif n;
  memset(&n, 0, sizeof(n));
  n.pid = 4242;
  n.data.arch = AUDIT_ARCH_X86_64;
  n.data.nr = nr;
  return SeccompNotifier::Decode(n);
}

// A clock the test steps: windows are measured by it, so no test waits for real seconds.
class SteppedClock {
 public:
  std::function<absl::Time()> Fn() {
    return [this] { return now_; };
  }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

// Every test: an auditor writing to a real log, on a clock the test steps.
class PluginAuditorTest : public ::testing::Test {
 protected:
  void SetUp() override { auditor().set_clock_for_testing(clock_.Fn()); }
  PluginAuditor& auditor() { return capture_.auditor(); }
  std::vector<audit::JsonValue> Records() { return capture_.Records(); }
  // Answers a call of named syscall `i` (a fake name and number: no ABI has this many).
  void RecordFakeSyscall(int i) {
    ASSERT_TRUE(
        auditor().RecordViolation(Violation(2000 + i, absl::StrCat("fake", i)), "eperm").ok());
  }

  testing::AuditCapture capture_;
  SteppedClock clock_;
};

// Calls each record stands for: itself plus its `suppressed` further ones.
uint64_t CallsOf(const std::vector<audit::JsonValue>& records) {
  uint64_t calls = 0;
  for (const audit::JsonValue& record : records) {
    calls += 1 + static_cast<uint64_t>(IntOf(record, "suppressed", 0));
  }
  return calls;
}

// Numbers with no name ("unknown") share one window: a burst over two numbers is counted
// together, each individual record shows its own number and the counted one the last call's.
TEST_F(PluginAuditorTest, BurstsOfDifferentUnknownNumbersShareOneWindow) {
  PluginAuditor& auditor = this->auditor();
  constexpr int kEach = 250;  // well past the individual records of one window
  for (int i = 0; i < kEach; ++i) {
    for (int32_t nr : {1000, 1001}) {
      ASSERT_TRUE(auditor.RecordViolation(Violation(nr, "unknown", i), "eperm").ok());
    }
  }
  EXPECT_EQ(auditor.violation_window_count(), 1u);
  ASSERT_TRUE(auditor.FlushViolationCounts(/*all=*/true).ok());
  EXPECT_EQ(auditor.violation_counts().at("unknown"), 2u * kEach);

  std::vector<audit::JsonValue> records = Records();
  EXPECT_EQ(CallsOf(records), 2u * kEach);
  ASSERT_EQ(records.size(), PluginAuditor::kIndividualViolationsPerSecond + 1);
  std::map<int64_t, int> individual;
  for (size_t i = 0; i + 1 < records.size(); ++i) ++individual[IntOf(records[i], "nr", -1)];
  EXPECT_EQ(individual[1000], 50);
  EXPECT_EQ(individual[1001], 50);
  const audit::JsonValue& counted = records.back();
  EXPECT_EQ(IntOf(counted, "suppressed", 0), 2 * kEach - 100 - 1);
  EXPECT_EQ(StringOf(counted, "counted_syscalls"), "unknown");
  EXPECT_EQ(StringOf(counted, "syscall"), "unknown");
  EXPECT_EQ(IntOf(counted, "nr", -1), 1001) << "the counted record shows the last call";
  EXPECT_NE(counted.Find("window_start"), nullptr);
}

// A plugin walking the unallocated number space (the security review's attack: ~250 B of
// launcher memory and one record per number) costs one window and a bounded number of
// records, over several seconds of walking.
TEST_F(PluginAuditorTest, WalkingUnknownNumbersKeepsStateAndRecordsBounded) {
  PluginAuditor& auditor = this->auditor();
  constexpr int kNumbers = 100000;
  constexpr absl::Duration kStep = absl::Microseconds(50);  // 5 s of calls in all
  size_t most_windows = 0;
  for (int i = 0; i < kNumbers; ++i) {
    // Half above the table, half with bit 31 set ("negative"), all distinct and unnamed.
    const int32_t nr = i % 2 == 0 ? 1000 + i : static_cast<int32_t>(0x80000000u | i);
    const SeccompViolation v = Decoded(nr);
    ASSERT_EQ(v.name, "unknown") << nr;
    ASSERT_FALSE(v.foreign_arch) << nr;
    ASSERT_TRUE(auditor.RecordViolation(v, "eperm").ok());
    // The supervisor's tick while counts are pending.
    if (i % 20000 == 0 && auditor.has_pending_counts()) {
      ASSERT_TRUE(auditor.FlushViolationCounts(/*all=*/false).ok());
    }
    most_windows = std::max(most_windows, auditor.violation_window_count());
    clock_.Advance(kStep);
  }
  EXPECT_EQ(most_windows, 1u);
  ASSERT_TRUE(auditor.FlushViolationCounts(/*all=*/true).ok());
  std::vector<audit::JsonValue> records = Records();
  EXPECT_EQ(CallsOf(records), static_cast<uint64_t>(kNumbers)) << "a call went uncounted";
  // 5 s: per window of a second 100 individual records and one counted one.
  const size_t seconds = 5;
  EXPECT_LE(records.size(), (seconds + 1) * (PluginAuditor::kIndividualViolationsPerSecond + 1));
  EXPECT_EQ(auditor.violation_counts().size(), 1u);
}

// More distinct syscalls than windows at once (only fake names reach this many): the
// windows stop at kMaxWindows plus one overflow, whose record says it counted many syscalls,
// and the individual records of a second stop at the plugin-wide budget.
TEST_F(PluginAuditorTest, DistinctSyscallsBeyondTheWindowCapShareTheOverflow) {
  PluginAuditor& auditor = this->auditor();
  constexpr int kSyscalls = 5000;
  for (int i = 0; i < kSyscalls; ++i) {
    ASSERT_NO_FATAL_FAILURE(RecordFakeSyscall(i));
  }
  EXPECT_EQ(auditor.violation_window_count(), PluginAuditor::kMaxWindows + 1);
  ASSERT_TRUE(auditor.FlushViolationCounts(/*all=*/true).ok());
  std::vector<audit::JsonValue> records = Records();
  EXPECT_EQ(CallsOf(records), static_cast<uint64_t>(kSyscalls));
  size_t individual = 0;
  int overflow = 0;
  for (const audit::JsonValue& record : records) {
    if (IntOf(record, "suppressed", 0) == 0 && record.Find("window_start") == nullptr) {
      ++individual;
    }
    if (StringOf(record, "counted_syscalls") == "many") {
      ++overflow;
      EXPECT_EQ(IntOf(record, "nr", -1), 2000 + kSyscalls - 1) << "shows the last call";
      EXPECT_EQ(IntOf(record, "suppressed", 0), kSyscalls - 1024 - 1);
    }
  }
  EXPECT_EQ(individual, PluginAuditor::kIndividualViolationsPerSecondTotal);
  EXPECT_EQ(overflow, 1);
  EXPECT_LE(records.size(),
            PluginAuditor::kIndividualViolationsPerSecondTotal + PluginAuditor::kMaxWindows + 1);
}

// Over several seconds of many syscalls called many times, the records stay within the
// documented bound per second: the plugin-wide individual budget plus one counted record
// per window.
TEST_F(PluginAuditorTest, RecordsPerSecondStayWithinTheDocumentedBound) {
  PluginAuditor& auditor = this->auditor();
  constexpr int kSeconds = 3;
  constexpr int kSyscalls = 1500;
  constexpr int kRounds = 4;
  uint64_t calls = 0;
  for (int s = 0; s < kSeconds; ++s) {
    for (int round = 0; round < kRounds; ++round) {
      for (int i = 0; i < kSyscalls; ++i) {
        ASSERT_NO_FATAL_FAILURE(RecordFakeSyscall(i));
        ++calls;
      }
    }
    ASSERT_LE(auditor.violation_window_count(), PluginAuditor::kMaxWindows + 1);
    clock_.Advance(absl::Seconds(1));
  }
  ASSERT_TRUE(auditor.FlushViolationCounts(/*all=*/true).ok());
  std::vector<audit::JsonValue> records = Records();
  EXPECT_EQ(CallsOf(records), calls);
  const size_t per_second =
      PluginAuditor::kIndividualViolationsPerSecondTotal + PluginAuditor::kMaxWindows + 1;
  EXPECT_LE(records.size(), (kSeconds + 1) * per_second);
}

// A window over a second old with nothing pending is dropped on the next call, so a plugin
// that touched many syscalls once does not keep their windows.
TEST_F(PluginAuditorTest, OldWindowsAreDroppedWithNothingPending) {
  PluginAuditor& auditor = this->auditor();
  for (int i = 0; i < 200; ++i) {
    ASSERT_NO_FATAL_FAILURE(RecordFakeSyscall(i));
  }
  EXPECT_EQ(auditor.violation_window_count(), 200u);
  EXPECT_FALSE(auditor.has_pending_counts());
  clock_.Advance(absl::Milliseconds(1001));
  ASSERT_TRUE(auditor.RecordViolation(Violation(1, "write"), "eperm").ok());
  EXPECT_EQ(auditor.violation_window_count(), 1u);
  EXPECT_EQ(Records().size(), 201u);
}

// A burst still folds per named syscall, as before: two syscalls, two counted records.
TEST_F(PluginAuditorTest, BurstsOfTwoNamedSyscallsAreCountedApart) {
  PluginAuditor& auditor = this->auditor();
  constexpr int kEach = 250;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(auditor.RecordViolation(Violation(165, "mount"), "eperm").ok());
    ASSERT_TRUE(auditor.RecordViolation(Violation(250, "keyctl"), "eperm").ok());
  }
  // The window closes on the clock: the supervisor's tick writes the counts.
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(auditor.has_pending_counts());
  ASSERT_TRUE(auditor.FlushViolationCounts(/*all=*/false).ok());
  EXPECT_FALSE(auditor.has_pending_counts());
  EXPECT_EQ(auditor.violation_window_count(), 0u);
  std::map<std::string, uint64_t> calls;
  std::map<std::string, int> folded;
  for (const audit::JsonValue& record : Records()) {
    const int64_t suppressed = IntOf(record, "suppressed", 0);
    calls[StringOf(record, "syscall")] += 1 + static_cast<uint64_t>(suppressed);
    if (suppressed > 0) {
      ++folded[StringOf(record, "syscall")];
      EXPECT_EQ(StringOf(record, "counted_syscalls"), "") << "one syscall's window";
    }
  }
  EXPECT_EQ(calls["mount"], static_cast<uint64_t>(kEach));
  EXPECT_EQ(calls["keyctl"], static_cast<uint64_t>(kEach));
  EXPECT_EQ(folded["mount"], 1);
  EXPECT_EQ(folded["keyctl"], 1);
}

}  // namespace
}  // namespace cordon::supervisor
