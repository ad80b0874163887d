#include "launcher/serve/serve_command.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::serve {
namespace {

using ::testing::HasSubstr;

TEST(ServeCommandTest, ParsesEveryOption) {
  absl::StatusOr<ServeCommand::Flags> flags = ServeCommand::ParseFlags(
      {"--control-socket", "/run/c.sock", "--allow-uid", "1000", "--allow-uid", "1001",
       "--allow-gid", "50", "--audit-log", "/tmp/a.jsonl", "--plugins-outlive-clients",
       "--share-plugins", "--max-clients", "3", "--socket-mode", "0660", "--no-direct-channels"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->server.socket_path, "/run/c.sock");
  EXPECT_EQ(flags->server.allow_uids, (std::set<uid_t>{1000, 1001}));
  EXPECT_EQ(flags->server.allow_gids, (std::set<gid_t>{50}));
  EXPECT_EQ(flags->audit.path(), "/tmp/a.jsonl");
  EXPECT_TRUE(flags->server.plugins_outlive_clients);
  EXPECT_TRUE(flags->server.share_plugins_between_clients);
  EXPECT_EQ(flags->server.max_clients, 3u);
  EXPECT_EQ(flags->server.socket_mode, 0660u);
  EXPECT_FALSE(flags->server.allow_direct_channels);
}

// Names are resolved through the user and group databases (root and its group exist on every
// system), so a packaged unit can say --allow-gid cordon without knowing the number.
TEST(ServeCommandTest, UserAndGroupNamesAndAuditFlags) {
  absl::StatusOr<ServeCommand::Flags> flags =
      ServeCommand::ParseFlags({"--control-socket", "s", "--allow-uid", "root", "--allow-gid",
                                "root", "--audit-log", "a", "--audit-sync", "--audit-rotate-age",
                                "24h", "--audit-rotate-size", "64M", "--audit-on-failure", "stop"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->server.allow_uids, (std::set<uid_t>{0}));
  EXPECT_EQ(flags->server.allow_gids, (std::set<gid_t>{0}));
  EXPECT_EQ(flags->audit.options().durability, audit::Durability::kSync);
  EXPECT_EQ(flags->audit.options().rotate_age, absl::Hours(24));
  EXPECT_EQ(flags->audit.options().rotate_bytes, 64u << 20);
  EXPECT_EQ(flags->audit.on_failure(), audit::OnWriteFailure::kStopLauncher);
}

TEST(ServeCommandTest, DefaultsAreConservative) {
  absl::StatusOr<ServeCommand::Flags> flags = ServeCommand::ParseFlags({"--control-socket", "s"});
  ASSERT_TRUE(flags.ok());
  EXPECT_FALSE(flags->server.plugins_outlive_clients);
  EXPECT_FALSE(flags->server.share_plugins_between_clients);
  EXPECT_TRUE(flags->server.allow_uids.empty());
  // Allowed, but each load must still ask for one (ControlLoadRequest.direct_channel).
  EXPECT_TRUE(flags->server.allow_direct_channels);
}

TEST(ServeCommandTest, ErrorsNameTheFlag) {
  EXPECT_THAT(ServeCommand::ParseFlags({}).status().message(), HasSubstr("--control-socket"));
  EXPECT_THAT(ServeCommand::ParseFlags({"--control-socket", "s", "--allow-uid", "no-such-user-xyz"})
                  .status()
                  .message(),
              HasSubstr("--allow-uid 'no-such-user-xyz' is neither a uid nor a known user name"));
  EXPECT_THAT(
      ServeCommand::ParseFlags({"--control-socket", "s", "--allow-gid", "no-such-group-xyz"})
          .status()
          .message(),
      HasSubstr("--allow-gid 'no-such-group-xyz'"));
  EXPECT_THAT(
      ServeCommand::ParseFlags({"--control-socket", "s", "--audit-sync"}).status().message(),
      HasSubstr("need --audit-log PATH"));
  EXPECT_THAT(ServeCommand::ParseFlags(
                  {"--control-socket", "s", "--audit-log", "a", "--audit-on-failure", "panic"})
                  .status()
                  .message(),
              HasSubstr("--audit-on-failure 'panic'"));
  EXPECT_THAT(ServeCommand::ParseFlags({"--control-socket", "s", "--allow-uid", "4294967295"})
                  .status()
                  .message(),
              HasSubstr("--allow-uid"));
  EXPECT_THAT(ServeCommand::ParseFlags({"--control-socket", "s", "--socket-mode", "999"})
                  .status()
                  .message(),
              HasSubstr("--socket-mode"));
  EXPECT_THAT(ServeCommand::ParseFlags({"--control-socket"}).status().message(),
              HasSubstr("needs a value"));
  EXPECT_THAT(ServeCommand::ParseFlags({"--control-socket", "s", "--bogus"}).status().message(),
              HasSubstr("unknown argument '--bogus'"));
}

}  // namespace
}  // namespace cordon::serve
