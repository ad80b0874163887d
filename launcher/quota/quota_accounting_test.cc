#include "launcher/quota/quota_accounting.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::quota {
namespace {

TEST(QuotaAccountingTest, NothingNewNothingReported) {
  QuotaUsage u{.oom_kills = 1, .pids_max_hits = 2, .cpu_throttled_periods = 3};
  EXPECT_TRUE(DetectViolations({}, u, u).empty());
  // Counters going backwards belong to another cgroup; never report a wrapped count.
  EXPECT_TRUE(DetectViolations({}, u, QuotaUsage{}).empty());
}

TEST(QuotaAccountingTest, ReportsEachKindWithLimitObservedAndAction) {
  QuotaLimits limits{.memory_bytes = 32 << 20, .pids = 8, .cpu_rate_percent = 50};
  QuotaUsage before{.oom_kills = 1, .pids_max_hits = 0, .cpu_throttled_periods = 10};
  QuotaUsage now = before;
  now.oom_kills = 3;
  now.memory_peak_bytes = 33554000;
  now.pids_max_hits = 4;
  now.cpu_throttled_periods = 12;
  now.cpu_throttled_ns = 180000000;
  std::vector<QuotaViolation> v = DetectViolations(limits, before, now);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].quota, "memory");
  EXPECT_EQ(v[0].limit, 32u << 20);
  EXPECT_EQ(v[0].observed, 33554000u);
  EXPECT_EQ(v[0].action, "killed");
  EXPECT_EQ(v[0].count, 2u);
  EXPECT_EQ(v[1].quota, "pids");
  EXPECT_EQ(v[1].limit, 8u);
  EXPECT_EQ(v[1].action, "denied");
  EXPECT_EQ(v[1].count, 4u);
  EXPECT_EQ(v[2].quota, "cpu_rate");
  EXPECT_EQ(v[2].limit, 50u);
  EXPECT_EQ(v[2].action, "throttled");
  EXPECT_EQ(v[2].count, 2u);
  // The rate used needs the wall time (PluginQuotas::Collect adds it); the throttled time is
  // in the detail.
  EXPECT_FALSE(v[2].observed.has_value());
  EXPECT_EQ(v[2].detail, "throttled in 2 periods of 100 ms, 180 ms in total");
}

TEST(QuotaAccountingTest, UnknownPeakIsNotInvented) {
  QuotaUsage now{.oom_kills = 1};
  std::vector<QuotaViolation> v = DetectViolations({.memory_bytes = 1}, {}, now);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v[0].observed.has_value());
}

}  // namespace
}  // namespace cordon::quota
