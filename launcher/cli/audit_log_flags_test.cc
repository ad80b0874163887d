#include "launcher/cli/audit_log_flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::cli {
namespace {

using ::testing::HasSubstr;

TEST(AuditLogFlagsTest, EveryFlagShapesTheOptions) {
  AuditLogFlags flags;
  EXPECT_FALSE(flags.enabled());
  ASSERT_TRUE(flags.Set("--audit-log", "/var/log/cordon/a.jsonl").ok());
  ASSERT_TRUE(flags.Set("--audit-sync", "").ok());
  ASSERT_TRUE(flags.Set("--audit-key-file", "/etc/cordon/key").ok());
  ASSERT_TRUE(flags.Set("--audit-rotate-size", "1G").ok());
  ASSERT_TRUE(flags.Set("--audit-rotate-age", "90m").ok());
  ASSERT_TRUE(flags.Set("--audit-on-failure", "deny").ok());
  EXPECT_TRUE(flags.Validate().ok());
  EXPECT_TRUE(flags.enabled());
  const audit::AuditLogOptions& o = flags.options();
  EXPECT_EQ(o.path, "/var/log/cordon/a.jsonl");
  EXPECT_EQ(o.durability, audit::Durability::kSync);
  EXPECT_EQ(o.hmac_key_file, "/etc/cordon/key");
  EXPECT_EQ(o.rotate_bytes, 1ull << 30);
  EXPECT_EQ(o.rotate_age, absl::Minutes(90));
  EXPECT_EQ(o.on_failure, audit::OnWriteFailure::kDenyRequests);
}

TEST(AuditLogFlagsTest, DefaultsAreBatchKillAndNoRotation) {
  AuditLogFlags flags;
  ASSERT_TRUE(flags.Set("--audit-log", "a").ok());
  EXPECT_EQ(flags.options().durability, audit::Durability::kBatch);
  EXPECT_EQ(flags.on_failure(), audit::OnWriteFailure::kKillPlugins);
  EXPECT_EQ(flags.options().rotate_bytes, 0u);
  EXPECT_EQ(flags.options().rotate_age, absl::ZeroDuration());
}

TEST(AuditLogFlagsTest, BadValuesNameTheFlagAndTheFix) {
  AuditLogFlags flags;
  EXPECT_THAT(flags.Set("--audit-on-failure", "panic").message(),
              HasSubstr("expected deny, kill or stop"));
  EXPECT_THAT(flags.Set("--audit-rotate-size", "lots").message(),
              HasSubstr("--audit-rotate-size"));
  EXPECT_THAT(flags.Set("--audit-rotate-size", "0").message(), HasSubstr("above 0"));
  EXPECT_THAT(flags.Set("--audit-rotate-age", "3 weeks").message(),
              HasSubstr("--audit-rotate-age"));
  EXPECT_THAT(flags.Set("--audit-log", "").message(), HasSubstr("expected a file path"));
}

TEST(AuditLogFlagsTest, ShapingFlagsWithoutALogAreAnError) {
  AuditLogFlags flags;
  ASSERT_TRUE(flags.Set("--audit-sync", "").ok());
  EXPECT_THAT(flags.Validate().message(), HasSubstr("need --audit-log PATH"));
  EXPECT_TRUE(AuditLogFlags::Handles("--audit-rotate-age"));
  EXPECT_FALSE(AuditLogFlags::Handles("--audit"));
  EXPECT_FALSE(AuditLogFlags::TakesValue("--audit-sync"));
  EXPECT_TRUE(AuditLogFlags::TakesValue("--audit-log"));
}

}  // namespace
}  // namespace cordon::cli
