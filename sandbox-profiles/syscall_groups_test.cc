#include "sandbox-profiles/syscall_groups.h"

#include <linux/audit.h>

#include <fstream>
#include <set>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::profiles {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Names(const std::vector<SyscallGroups::Entry>& entries) {
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.name);
  return names;
}

TEST(SyscallGroupsTest, EveryGroupMemberIsAnX86_64SyscallAndNeverForbidden) {
  std::set<std::string_view> group_names;
  for (const SyscallGroups::Group& group : SyscallGroups::All()) {
    EXPECT_TRUE(group_names.insert(group.name).second) << "duplicate group " << group.name;
    EXPECT_FALSE(group.description.empty());
    std::set<std::string_view> seen;
    for (std::string_view name : group.syscalls) {
      EXPECT_TRUE(SyscallGroups::Number(name).has_value()) << group.name << ": " << name;
      EXPECT_FALSE(SyscallGroups::IsNeverAllowed(name)) << group.name << ": " << name;
      EXPECT_NE(name, "clone3") << "clone3 is always ENOSYS, never part of a group";
      EXPECT_TRUE(seen.insert(name).second) << group.name << " lists " << name << " twice";
    }
  }
}

TEST(SyscallGroupsTest, NeverAllowedNamesResolve) {
  EXPECT_EQ(SyscallGroups::NeverAllowed().size(), 47u);
  for (std::string_view name : SyscallGroups::NeverAllowed()) {
    EXPECT_TRUE(SyscallGroups::Number(name).has_value()) << name;
  }
  EXPECT_TRUE(SyscallGroups::IsNeverAllowed("ptrace"));
  EXPECT_FALSE(SyscallGroups::IsNeverAllowed("read"));
}

TEST(SyscallGroupsTest, NumberRejectsUnknownAndForeignNames) {
  EXPECT_EQ(SyscallGroups::Number("read"), 0);
  EXPECT_FALSE(SyscallGroups::Number("no_such_call").has_value());
  EXPECT_FALSE(SyscallGroups::Number("socketcall").has_value());  // i386 only
  EXPECT_FALSE(SyscallGroups::Number("").has_value());
}

TEST(SyscallGroupsTest, NameForNumberPerArchitecture) {
  EXPECT_EQ(SyscallGroups::NameForNumber(AUDIT_ARCH_X86_64, 39), "getpid");
  EXPECT_EQ(SyscallGroups::NameForNumber(AUDIT_ARCH_I386, 20), "getpid");
  EXPECT_EQ(SyscallGroups::NameForNumber(AUDIT_ARCH_X86_64, 0x40000000 | 39), "getpid");
  EXPECT_EQ(SyscallGroups::NameForNumber(AUDIT_ARCH_X86_64, 5000), "nr:5000");
  EXPECT_EQ(SyscallGroups::NameForNumber(0x1234, 1), "nr:1");
}

TEST(SyscallGroupsTest, LookupNamesKnownGroupsOnMiss) {
  ASSERT_TRUE(SyscallGroups::Lookup("base").ok());
  auto missing = SyscallGroups::Lookup("network");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("file-read"));
}

TEST(SyscallGroupsTest, ResolveUnionsAndDenyWins) {
  cordon::v1::SeccompPolicy policy;
  policy.add_groups("channel");
  policy.add_allow("getpid");
  policy.add_allow("recvmsg");
  policy.add_deny("sendmsg");
  auto entries = SyscallGroups::Resolve(policy);
  ASSERT_TRUE(entries.ok()) << entries.status();
  std::vector<std::string> names = Names(*entries);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_THAT(names, ::testing::Contains("getpid"));
  EXPECT_THAT(names, ::testing::Contains("recvmsg"));
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("sendmsg")));
  for (const auto& e : *entries) {
    if (e.name == "recvmsg") {
      EXPECT_EQ(e.origin, "channel");
    }
    if (e.name == "getpid") {
      EXPECT_EQ(e.origin, "allow");
    }
  }
}

TEST(SyscallGroupsTest, NeverAllowedNeedsDangerAllow) {
  cordon::v1::SeccompPolicy policy;
  policy.add_allow("ptrace");
  auto refused = SyscallGroups::Resolve(policy);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("danger_allow"));

  cordon::v1::SeccompPolicy danger;
  danger.add_danger_allow("ptrace");
  auto allowed = SyscallGroups::Resolve(danger);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(Names(*allowed), std::vector<std::string>{"ptrace"});

  cordon::v1::SeccompPolicy misuse;
  misuse.add_danger_allow("read");
  EXPECT_FALSE(SyscallGroups::Resolve(misuse).ok());
}

TEST(SyscallGroupsTest, RejectsUnknownNamesAndClone3) {
  for (const char* field : {"groups", "allow", "deny", "danger_allow", "clone3"}) {
    cordon::v1::SeccompPolicy policy;
    std::string f = field;
    if (f == "groups") policy.add_groups("nope");
    if (f == "allow") policy.add_allow("nope");
    if (f == "deny") policy.add_deny("nope");
    if (f == "danger_allow") policy.add_danger_allow("nope");
    if (f == "clone3") policy.add_allow("clone3");
    EXPECT_FALSE(SyscallGroups::Resolve(policy).ok()) << field;
  }
}

// docs/profiles.md documents every group; this keeps it honest.
TEST(SyscallGroupsTest, DocsListEveryGroupMember) {
  const char* env = getenv("CORDON_SOURCE_DIR");
  std::string root = env ? env : CORDON_TEST_SOURCE_DIR;
  std::ifstream in(root + "/docs/profiles.md");
  ASSERT_TRUE(in.good()) << "cannot read " << root << "/docs/profiles.md";
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string doc = buffer.str();
  for (const SyscallGroups::Group& group : SyscallGroups::All()) {
    const std::string heading = "### `" + std::string(group.name) + "`";
    size_t start = doc.find(heading);
    ASSERT_NE(start, std::string::npos) << "docs/profiles.md lacks " << heading;
    size_t end = doc.find("\n#", start + heading.size());
    const std::string section = doc.substr(start, end - start);
    for (std::string_view name : group.syscalls) {
      EXPECT_NE(section.find("`" + std::string(name) + "`"), std::string::npos)
          << "docs/profiles.md group " << group.name << " does not list " << name;
    }
  }
  for (std::string_view name : SyscallGroups::NeverAllowed()) {
    EXPECT_NE(doc.find("`" + std::string(name) + "`"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace cordon::profiles
