#include "launcher/cli/learn_command.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/text_format.h"
#include "sandbox-profiles/profile_loader.h"

namespace cordon::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

cordon::v1::Profile Minimal() {
  absl::StatusOr<cordon::v1::Profile> profile = profiles::ProfileLoader::Load("minimal");
  EXPECT_TRUE(profile.ok()) << profile.status();
  return profile.ok() ? *profile : cordon::v1::Profile{};
}

TEST(LearnCommandTest, AddsExactlyTheUsedSyscallsThatAProfileMayAllow) {
  cordon::v1::Profile base = Minimal();
  std::string rendered = LearnCommand::RenderLearnedProfile(
      base, {{"setpriority", 3}, {"mkdir", 1}, {"ptrace", 2}, {"prctl", 1}});
  // The learned profile parses, validates and allows the two new syscalls.
  absl::StatusOr<cordon::v1::Profile> learned =
      profiles::ProfileLoader::ParseText(rendered, "learned");
  ASSERT_TRUE(learned.ok()) << learned.status() << "\n" << rendered;
  EXPECT_EQ(learned->name(), "minimal-learned");
  std::vector<std::string> allow(learned->seccomp().allow().begin(),
                                 learned->seccomp().allow().end());
  EXPECT_THAT(allow, ::testing::IsSupersetOf({"setpriority", "mkdir"}));
  EXPECT_THAT(allow, Not(::testing::Contains("ptrace")));
  EXPECT_EQ(learned->seccomp().allow_size(), base.seccomp().allow_size() + 2);
  // What cannot be added is explained, not silently dropped.
  EXPECT_THAT(rendered, HasSubstr("ptrace (x2): never allowed by cordon"));
  EXPECT_THAT(rendered, HasSubstr("prctl (x1): allowed by the base, denied by an argument rule"));
  EXPECT_THAT(rendered, HasSubstr("allows 2 more syscall(s)"));
}

TEST(LearnCommandTest, NothingUsedMeansTheBaseUnchanged) {
  cordon::v1::Profile base = Minimal();
  std::string rendered = LearnCommand::RenderLearnedProfile(base, {});
  absl::StatusOr<cordon::v1::Profile> learned =
      profiles::ProfileLoader::ParseText(rendered, "learned");
  ASSERT_TRUE(learned.ok()) << learned.status();
  EXPECT_EQ(learned->seccomp().allow_size(), base.seccomp().allow_size());
  EXPECT_THAT(rendered, Not(HasSubstr("Used but not added")));
}

}  // namespace
}  // namespace cordon::cli
