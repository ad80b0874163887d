#include "launcher/host/sandbox_spec_builder.h"

#include <sys/resource.h>

#include <optional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::host {
namespace {

using ::testing::HasSubstr;

cordon::v1::Profile ProfileWithLimits(bool with_tmp) {
  cordon::v1::Profile profile;
  profile.set_name("limits");
  if (with_tmp) {
    cordon::v1::Mount* tmp = profile.add_mounts();
    tmp->set_type(cordon::v1::Mount::TMPFS);
    tmp->set_destination("/tmp");
    tmp->set_size_bytes(64 << 20);
  }
  cordon::v1::Limits* limits = profile.mutable_limits();
  limits->set_memory_bytes(512 << 20);
  limits->set_pids(64);
  limits->set_cpu_time_seconds(60);
  limits->set_cpu_rate_percent(150);
  limits->set_wall_time_ms(30000);
  limits->set_open_files(256);
  limits->set_file_size_bytes(32 << 20);
  profile.mutable_seccomp()->add_groups("base");
  return profile;
}

LaunchOverrides Command() {
  LaunchOverrides overrides;
  overrides.command = {"/bin/true"};
  return overrides;
}

std::optional<sandbox::ResourceLimit> Rlimit(const SandboxPlan& plan, int resource) {
  for (const sandbox::ResourceLimit& limit : plan.spec.rlimits) {
    if (limit.resource == resource) return limit;
  }
  return std::nullopt;
}

uint64_t TmpSize(const SandboxPlan& plan) {
  for (const sandbox::MountSpec& m : plan.spec.mounts) {
    if (m.kind == sandbox::MountSpec::Kind::kTmpfs && m.destination == "/tmp") return m.size_bytes;
  }
  return 0;
}

// Every quota a profile sets reaches the plan when no flag says otherwise.
TEST(SandboxSpecBuilderTest, EveryProfileQuotaAppliesWithoutFlags) {
  absl::StatusOr<SandboxPlan> plan = SandboxSpecBuilder::Build(ProfileWithLimits(true), Command());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->cgroup_limits.memory_bytes, 512u << 20);
  EXPECT_EQ(plan->cgroup_limits.pids, 64u);
  EXPECT_EQ(plan->cgroup_limits.cpu_rate_percent, 150u);
  EXPECT_TRUE(plan->needs_cgroup);
  EXPECT_EQ(plan->wall_time_ms, 30000u);
  EXPECT_EQ(plan->cpu_time_seconds, 60u);
  ASSERT_TRUE(Rlimit(*plan, RLIMIT_CPU).has_value());
  EXPECT_EQ(Rlimit(*plan, RLIMIT_CPU)->soft, 60u);
  ASSERT_TRUE(Rlimit(*plan, RLIMIT_NOFILE).has_value());
  EXPECT_EQ(Rlimit(*plan, RLIMIT_NOFILE)->soft, 256u);
  EXPECT_EQ(Rlimit(*plan, RLIMIT_NOFILE)->hard, 256u);
  ASSERT_TRUE(Rlimit(*plan, RLIMIT_FSIZE).has_value());
  EXPECT_EQ(Rlimit(*plan, RLIMIT_FSIZE)->soft, 32u << 20);
  EXPECT_EQ(TmpSize(*plan), 64u << 20);
}

// A flag replaces the profile's value, lower or higher.
TEST(SandboxSpecBuilderTest, EveryFlagOverridesTheProfile) {
  LaunchOverrides overrides = Command();
  overrides.quotas.memory_bytes = 64 << 20;
  overrides.quotas.pids = 8;
  overrides.quotas.cpu_rate_percent = 10;
  overrides.quotas.wall_time_ms = 500;
  overrides.quotas.cpu_time_seconds = 1;
  overrides.quotas.open_files = 32;
  overrides.quotas.file_size_bytes = 1 << 20;
  overrides.quotas.tmp_size_bytes = 8 << 20;
  absl::StatusOr<SandboxPlan> plan = SandboxSpecBuilder::Build(ProfileWithLimits(true), overrides);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->cgroup_limits.memory_bytes, 64u << 20);
  EXPECT_EQ(plan->cgroup_limits.pids, 8u);
  EXPECT_EQ(plan->cgroup_limits.cpu_rate_percent, 10u);
  EXPECT_EQ(plan->wall_time_ms, 500u);
  EXPECT_EQ(Rlimit(*plan, RLIMIT_CPU)->soft, 1u);
  EXPECT_EQ(Rlimit(*plan, RLIMIT_NOFILE)->soft, 32u);
  EXPECT_EQ(Rlimit(*plan, RLIMIT_FSIZE)->soft, 1u << 20);
  EXPECT_EQ(TmpSize(*plan), 8u << 20);
  // One rlimit per resource: the flag's replaces the profile's, it is not added beside it.
  int nofile = 0;
  for (const sandbox::ResourceLimit& l : plan->spec.rlimits) nofile += l.resource == RLIMIT_NOFILE;
  EXPECT_EQ(nofile, 1);
}

TEST(SandboxSpecBuilderTest, TmpSizeWithoutATmpTmpfsIsAnErrorNamingTheFlagAndTheFix) {
  LaunchOverrides overrides = Command();
  overrides.quotas.tmp_size_bytes = 8 << 20;
  absl::StatusOr<SandboxPlan> plan = SandboxSpecBuilder::Build(ProfileWithLimits(false), overrides);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("--tmp-size"));
  EXPECT_THAT(plan.status().message(), HasSubstr("no tmpfs at /tmp"));
  EXPECT_THAT(plan.status().message(), HasSubstr("destination: \"/tmp\""));
  // Without the flag the same profile is fine.
  EXPECT_TRUE(SandboxSpecBuilder::Build(ProfileWithLimits(false), Command()).ok());
}

}  // namespace
}  // namespace cordon::host
