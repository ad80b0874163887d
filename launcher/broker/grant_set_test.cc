#include "launcher/broker/grant_set.h"

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "sandbox-profiles/profile_loader.h"

namespace cordon::broker {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

cordon::v1::CapabilityBounds Bounds(const std::string& text) {
  cordon::v1::CapabilityBounds b;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &b)) << text;
  return b;
}

std::vector<cordon::v1::Capability> Caps(
    std::initializer_list<std::pair<const char*, const char*>> list) {
  std::vector<cordon::v1::Capability> out;
  for (const auto& [k, t] : list) {
    cordon::v1::Capability c;
    c.set_kind(k);
    c.set_target(t);
    out.push_back(c);
  }
  return out;
}

constexpr char kBounds[] = R"pb(
  fs { plugin_path: "/data" host_path: "/srv/data" read: true }
  fs { plugin_path: "/data/out" host_path: "/srv/out" read: true write: true create: true }
  net_connect: "10.0.0.0/8:443"
  net_connect: "[::1]:8000-8999"
  net_connect: "api.example.org:443"
  net_connect: "unix:/run/app.sock"
  host_functions: "kv.get"
  host_functions: "kv.put"
  log: true
)pb";

TEST(GrantSetTest, GrantsWhatBothAllow) {
  absl::StatusOr<GrantSet> g = GrantSet::Intersect(Caps({{"fs.read", "/data"},
                                                         {"fs.read", "/data/reports"},
                                                         {"fs.write", "/data/out"},
                                                         {"fs.create", "/data/out/new"},
                                                         {"net.connect", "10.1.2.3:443"},
                                                         {"net.connect", "[::1]:8080"},
                                                         {"net.connect", "API.example.org:443"},
                                                         {"net.connect", "unix:/run/app.sock"},
                                                         {"host.call", "kv.get"},
                                                         {"log", ""}}),
                                                   Bounds(kBounds));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->fs().size(), 4u);
  // Most specific first; /data/out/new lives in the /data/out bound's host tree.
  EXPECT_EQ(g->fs()[0].plugin_path, "/data/out/new");
  EXPECT_EQ(g->fs()[0].host_path(), "/srv/out/new");
  EXPECT_TRUE(g->fs()[0].create);
  EXPECT_EQ(g->net().size(), 4u);
  EXPECT_EQ(g->host_functions(), std::set<std::string>{"kv.get"});
  EXPECT_TRUE(g->log());
  std::vector<cordon::v1::Capability> caps = g->ToCapabilities();
  EXPECT_EQ(caps.size(), 10u);
}

TEST(GrantSetTest, RefusalListsEveryCapabilityOverTheBound) {
  absl::StatusOr<GrantSet> g = GrantSet::Intersect(Caps({{"fs.read", "/data"},
                                                         {"fs.write", "/data"},
                                                         {"fs.read", "/etc"},
                                                         {"fs.read", "/data/../etc"},
                                                         {"net.connect", "10.0.0.0/7:443"},
                                                         {"net.connect", "10.1.1.1:80"},
                                                         {"net.connect", "93.184.216.34:443"},
                                                         {"net.connect", "127.1:443"},
                                                         {"host.call", "kv.delete"},
                                                         {"process.spawn", "x"},
                                                         {"net.connect", "10.1.1.1:443"}}),
                                                   Bounds(kBounds));
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(g.status()));
  std::string msg(g.status().message());
  EXPECT_THAT(msg, HasSubstr("9 capabilities beyond"));
  EXPECT_THAT(msg, HasSubstr("fs.write '/data': the profile bounds it to /data (read)"));
  EXPECT_THAT(msg, HasSubstr("fs.read '/etc': no fs bound"));
  EXPECT_THAT(msg, HasSubstr("'/data/../etc'"));
  EXPECT_THAT(msg, HasSubstr("net.connect '10.0.0.0/7:443'"));
  EXPECT_THAT(msg, HasSubstr("net.connect '10.1.1.1:80'"));
  EXPECT_THAT(msg, HasSubstr("net.connect '93.184.216.34:443'"));
  EXPECT_THAT(msg, HasSubstr("net.connect '127.1:443'"));
  EXPECT_THAT(msg, HasSubstr("host.call 'kv.delete'"));
  EXPECT_THAT(msg, HasSubstr("process.spawn 'x': unknown capability kind"));
  EXPECT_THAT(msg, Not(HasSubstr("'10.1.1.1:443'")));
}

TEST(GrantSetTest, EmptyBoundsGrantNothing) {
  EXPECT_TRUE(GrantSet::Intersect(Caps({}), {}).ok());
  absl::StatusOr<GrantSet> g = GrantSet::Intersect(Caps({{"log", ""}}), {});
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("does not allow plugin logs"));
}

TEST(GrantSetTest, InvalidBoundsAreReportedTogether) {
  absl::Status s = GrantSet::ValidateBounds(Bounds(R"pb(
    fs { plugin_path: "data" host_path: "/srv" read: true }
    fs { plugin_path: "/x" host_path: "/" read: true }
    fs { plugin_path: "/y/../z" host_path: "/srv/y" read: true }
    fs { plugin_path: "/w" host_path: "/srv/w" }
    fs { plugin_path: "/w" host_path: "/srv/other" read: true }
    net_connect: "0x7f.1:80"
    host_functions: "bad name"
  )pb"));
  ASSERT_FALSE(s.ok());
  std::string msg(s.message());
  for (const char* where :
       {"fs[0].plugin_path", "fs[1].host_path", "fs[2].plugin_path", "fs[3]: grants nothing",
        "fs[4].plugin_path: '/w' is already mapped", "net_connect[0]", "host_functions[0]"}) {
    EXPECT_THAT(msg, HasSubstr(where));
  }
}

TEST(GrantSetTest, MatchPathPicksASufficientGrant) {
  absl::StatusOr<GrantSet> g =
      GrantSet::Intersect(Caps({{"fs.read", "/data"}, {"fs.write", "/data/out"}}), Bounds(kBounds));
  ASSERT_TRUE(g.ok()) << g.status();
  std::vector<std::string> rest;
  absl::StatusOr<size_t> i = g->MatchPath({"data", "out", "f"}, {.write = true}, &rest);
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(g->fs()[*i].plugin_path, "/data/out");
  EXPECT_EQ(rest, std::vector<std::string>{"f"});
  // Read of /data/out/f: the /data/out grant has no read, the /data grant covers it.
  i = g->MatchPath({"data", "out", "f"}, {.read = true}, &rest);
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(g->fs()[*i].plugin_path, "/data");
  EXPECT_EQ(rest, (std::vector<std::string>{"out", "f"}));
  // Write elsewhere in /data, create anywhere, and paths outside: denied.
  EXPECT_TRUE(
      absl::IsPermissionDenied(g->MatchPath({"data", "f"}, {.write = true}, &rest).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      g->MatchPath({"data", "out", "f"}, {.write = true, .create = true}, &rest).status()));
  EXPECT_TRUE(
      absl::IsPermissionDenied(g->MatchPath({"etc", "passwd"}, {.read = true}, &rest).status()));
  // A sibling with a common string prefix is not beneath the grant.
  EXPECT_TRUE(absl::IsPermissionDenied(g->MatchPath({"database"}, {.read = true}, &rest).status()));
}

// fs.create on its own is usable: it creates new files (in either write mode) and writes
// them, but opens no existing file for writing or reading.
TEST(GrantSetTest, CreateAloneCoversCreatesOnly) {
  absl::StatusOr<GrantSet> g =
      GrantSet::Intersect(Caps({{"fs.create", "/data/out"}}), Bounds(kBounds));
  ASSERT_TRUE(g.ok()) << g.status();
  std::vector<std::string> rest;
  EXPECT_TRUE(g->MatchPath({"data", "out", "f"}, {.write = true, .create = true}, &rest).ok());
  EXPECT_TRUE(
      g->MatchPath({"data", "out", "f"}, {.read = true, .write = true, .create = true}, &rest)
          .ok());
  EXPECT_EQ(rest, std::vector<std::string>{"f"});
  absl::Status write = g->MatchPath({"data", "out", "f"}, {.write = true}, &rest).status();
  EXPECT_TRUE(absl::IsPermissionDenied(write)) << write;
  EXPECT_TRUE(
      absl::IsPermissionDenied(g->MatchPath({"data", "out", "f"}, {.read = true}, &rest).status()));
  absl::Status truncate =
      g->MatchPath({"data", "out", "f"}, {.write = true, .truncate = true}, &rest).status();
  EXPECT_TRUE(absl::IsPermissionDenied(truncate)) << truncate;
  // A write grant without create still cannot create.
  absl::StatusOr<GrantSet> w =
      GrantSet::Intersect(Caps({{"fs.write", "/data/out"}}), Bounds(kBounds));
  ASSERT_TRUE(w.ok()) << w.status();
  absl::Status create =
      w->MatchPath({"data", "out", "f"}, {.write = true, .create = true}, &rest).status();
  EXPECT_TRUE(absl::IsPermissionDenied(create));
  EXPECT_THAT(std::string(create.message()), HasSubstr("needs fs.create"));
}

// Two bounds on the same directory that disagree on following symlinks would merge into one
// grant with the first one's setting: the profile is refused instead.
TEST(GrantSetTest, BoundsDisagreeingOnSymlinksAreRefused) {
  cordon::v1::CapabilityBounds bounds = Bounds(R"pb(
    fs { plugin_path: "/data" host_path: "/srv/data" read: true follow_symlinks: true }
    fs { plugin_path: "/data" host_path: "/srv/data" write: true }
  )pb");
  absl::Status s = GrantSet::ValidateBounds(bounds);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("fs[1].follow_symlinks"));
  absl::StatusOr<GrantSet> g =
      GrantSet::Intersect(Caps({{"fs.read", "/data"}, {"fs.write", "/data"}}), bounds);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("follow_symlinks"));
  // The same setting twice is fine, and the rights merge into one grant.
  g = GrantSet::Intersect(Caps({{"fs.read", "/data"}, {"fs.write", "/data"}}), Bounds(R"pb(
                            fs { plugin_path: "/data" host_path: "/srv/data" read: true }
                            fs { plugin_path: "/data" host_path: "/srv/data" write: true }
                          )pb"));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->fs().size(), 1u);
  EXPECT_TRUE(g->fs()[0].read && g->fs()[0].write && !g->fs()[0].follow_symlinks);
}

// Grants under different bounds never merge, even when their plugin paths are equal: each
// keeps its own host directory and symlink rule.
TEST(GrantSetTest, GrantsFromDifferentBoundsStayApart) {
  absl::StatusOr<GrantSet> g = GrantSet::Intersect(
      Caps({{"fs.read", "/a/b"}, {"fs.write", "/a/b"}}), Bounds(R"pb(
        fs { plugin_path: "/a" host_path: "/srv" read: true follow_symlinks: true }
        fs { plugin_path: "/a/b" host_path: "/srv" write: true }
      )pb"));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->fs().size(), 2u);
  for (const FsGrant& grant : g->fs()) {
    if (grant.read) {
      EXPECT_EQ(grant.host_path(), "/srv/b");
      EXPECT_TRUE(grant.follow_symlinks);
      EXPECT_FALSE(grant.write);
    } else {
      EXPECT_EQ(grant.host_path(), "/srv");
      EXPECT_FALSE(grant.follow_symlinks);
      EXPECT_TRUE(grant.write);
    }
  }
}

TEST(GrantSetTest, ShippedProfilesCarryValidBounds) {
  absl::StatusOr<cordon::v1::Profile> reader = profiles::ProfileLoader::Load("fs-reader");
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_TRUE(GrantSet::ValidateBounds(reader->capabilities()).ok());
  EXPECT_TRUE(
      GrantSet::Intersect(Caps({{"fs.read", "/data/in"}, {"log", ""}}), reader->capabilities())
          .ok());
  EXPECT_FALSE(GrantSet::Intersect(Caps({{"fs.write", "/data"}}), reader->capabilities()).ok());

  absl::StatusOr<cordon::v1::Profile> net = profiles::ProfileLoader::Load("net-client");
  ASSERT_TRUE(net.ok()) << net.status();
  ASSERT_TRUE(GrantSet::ValidateBounds(net->capabilities()).ok());
  EXPECT_TRUE(
      GrantSet::Intersect(Caps({{"net.connect", "api.example.org:443"}}), net->capabilities())
          .ok());
  absl::StatusOr<GrantSet> raw = GrantSet::Intersect(
      Caps({{"net.connect", "10.0.0.1:443"}, {"net.connect", "api.example.org:22"}}),
      net->capabilities());
  ASSERT_FALSE(raw.ok());
  EXPECT_THAT(std::string(raw.status().message()), HasSubstr("2 capabilities beyond"));

  // The default profile grants nothing.
  absl::StatusOr<cordon::v1::Profile> def = profiles::ProfileLoader::Load("default");
  ASSERT_TRUE(def.ok());
  EXPECT_FALSE(GrantSet::Intersect(Caps({{"log", ""}}), def->capabilities()).ok());
}

}  // namespace
}  // namespace cordon::broker
