#include "launcher/broker/token_bucket.h"

#include "gtest/gtest.h"

namespace cordon::broker {
namespace {

TEST(TokenBucketTest, BurstThenRate) {
  absl::Time t = absl::FromUnixSeconds(1000);
  TokenBucket bucket(10, 3, t);
  EXPECT_TRUE(bucket.TryTake(t));
  EXPECT_TRUE(bucket.TryTake(t));
  EXPECT_TRUE(bucket.TryTake(t));
  EXPECT_FALSE(bucket.TryTake(t));
  // 10/s: one token per 100 ms.
  EXPECT_FALSE(bucket.TryTake(t + absl::Milliseconds(50)));
  EXPECT_TRUE(bucket.TryTake(t + absl::Milliseconds(101)));
  EXPECT_FALSE(bucket.TryTake(t + absl::Milliseconds(101)));
  // Refill never exceeds the burst.
  absl::Time later = t + absl::Hours(1);
  int taken = 0;
  while (bucket.TryTake(later)) ++taken;
  EXPECT_EQ(taken, 3);
}

TEST(TokenBucketTest, BackwardClockMintsNothing) {
  absl::Time t = absl::FromUnixSeconds(1000);
  TokenBucket bucket(1, 1, t);
  EXPECT_TRUE(bucket.TryTake(t));
  EXPECT_FALSE(bucket.TryTake(t - absl::Hours(1)));
  EXPECT_FALSE(bucket.TryTake(t));
}

TEST(TokenBucketTest, ZeroRateIsUnlimited) {
  absl::Time t = absl::FromUnixSeconds(1000);
  TokenBucket bucket(0, 1, t);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(bucket.TryTake(t));
}

}  // namespace
}  // namespace cordon::broker
