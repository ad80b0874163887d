#include "launcher/sandbox/child_plan.h"

#include <memory>

#include "gtest/gtest.h"
#include "sandbox-profiles/seccomp_compiler.h"

namespace cordon::sandbox {
namespace {

SandboxSpec SpecWithGroups(std::initializer_list<const char*> groups, bool user_notify) {
  cordon::v1::SeccompPolicy policy;
  for (const char* g : groups) policy.add_groups(g);
  auto program =
      profiles::SeccompCompiler::Compile(policy, profiles::SeccompCompileOptions{user_notify});
  EXPECT_TRUE(program.ok()) << program.status();
  SandboxSpec spec;
  spec.program = "/bin/true";
  spec.argv = {"true"};
  if (program.ok()) spec.seccomp_program = program->instructions;
  spec.seccomp_user_notify = user_notify;
  return spec;
}

TEST(ChildPlanTest, ListenerGoesBySendmsgOnlyWhenTheFilterAllowsIt) {
  auto with_channel = ChildPlan::Build(SpecWithGroups({"base", "channel"}, true), false);
  ASSERT_TRUE(with_channel.ok()) << with_channel.status();
  EXPECT_TRUE((*with_channel)->listener_via_sendmsg());

  auto without_channel = ChildPlan::Build(SpecWithGroups({"base"}, true), false);
  ASSERT_TRUE(without_channel.ok()) << without_channel.status();
  EXPECT_FALSE((*without_channel)->listener_via_sendmsg());

  // No listener at all without user notification.
  auto eperm = ChildPlan::Build(SpecWithGroups({"base", "channel"}, false), false);
  ASSERT_TRUE(eperm.ok()) << eperm.status();
  EXPECT_FALSE((*eperm)->listener_via_sendmsg());
}

}  // namespace
}  // namespace cordon::sandbox
