#include "ipc/version_negotiator.h"

#include <string>

#include "gtest/gtest.h"

namespace cordon::ipc {
namespace {

TEST(VersionNegotiatorTest, PicksHighestCommonVersion) {
  auto v = VersionNegotiator::Negotiate({1, 3}, {2, 5});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 3u);
}

TEST(VersionNegotiatorTest, OlderPluginOverlapping) {
  auto v = VersionNegotiator::Negotiate({2, 4}, {1, 2});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 2u);
}

TEST(VersionNegotiatorTest, NewerPluginOverlapping) {
  auto v = VersionNegotiator::Negotiate({1, 2}, {2, 9});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 2u);
}

TEST(VersionNegotiatorTest, DisjointTooOldNamesBothRanges) {
  auto v = VersionNegotiator::Negotiate({3, 4}, {1, 2});
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(v.status()));
  std::string m(v.status().message());
  EXPECT_NE(m.find("[1, 2]"), std::string::npos) << m;
  EXPECT_NE(m.find("[3, 4]"), std::string::npos) << m;
  EXPECT_NE(m.find("too old"), std::string::npos) << m;
}

TEST(VersionNegotiatorTest, DisjointTooNew) {
  auto v = VersionNegotiator::Negotiate({1, 1}, {2, 3});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(std::string(v.status().message()).find("too new"), std::string::npos);
}

TEST(VersionNegotiatorTest, InvalidRanges) {
  EXPECT_TRUE(absl::IsInvalidArgument(VersionNegotiator::Negotiate({1, 1}, {0, 1}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(VersionNegotiator::Negotiate({1, 1}, {3, 2}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(VersionNegotiator::Negotiate({2, 1}, {1, 1}).status()));
}

}  // namespace
}  // namespace cordon::ipc
