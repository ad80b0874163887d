#include "ipc/manifest_loader.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace cordon::ipc {
namespace {

constexpr char kGood[] = R"pb(
  name: "echo"
  version: "1.0.0"
  entry: "bin/echo"
  protocol { min: 1 max: 1 }
  capabilities { kind: "log" }
  limits { memory_bytes: 67108864 call_timeout_ms: 1000 }
)pb";

TEST(ManifestLoaderTest, ParsesValidManifest) {
  auto m = ManifestLoader::Parse(kGood, "m.textproto");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->name(), "echo");
  EXPECT_EQ(m->limits().call_timeout_ms(), 1000u);
}

TEST(ManifestLoaderTest, SyntaxErrorHasLineAndColumn) {
  auto m = ManifestLoader::Parse("name: \"x\"\nversionz: \"1.0.0\"\n", "b/manifest.textproto");
  ASSERT_FALSE(m.ok());
  std::string msg(m.status().message());
  EXPECT_NE(msg.find("b/manifest.textproto:2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("versionz"), std::string::npos) << msg;
}

TEST(ManifestLoaderTest, ValidationErrors) {
  auto bad = [](const std::string& text) { return ManifestLoader::Parse(text, "m").status(); };
  std::string base = "version: \"1.0.0\" entry: \"e\" protocol { min: 1 max: 1 } ";
  EXPECT_FALSE(bad(base + "name: \"Bad Name\"").ok());
  EXPECT_FALSE(bad("name: \"x\" version: \"one\" entry: \"e\" protocol { min: 1 max: 1 }").ok());
  EXPECT_FALSE(
      bad("name: \"x\" version: \"1.0.0\" entry: \"/abs\" protocol { min: 1 max: 1 }").ok());
  EXPECT_FALSE(
      bad("name: \"x\" version: \"1.0.0\" entry: \"a/../../e\" protocol { min: 1 max: 1 }").ok());
  EXPECT_FALSE(bad("name: \"x\" version: \"1.0.0\" entry: \"e\" protocol { min: 2 max: 1 }").ok());
  EXPECT_FALSE(bad("name: \"x\" version: \"1.0.0\" entry: \"e\"").ok());
  EXPECT_TRUE(bad(base + "name: \"x\"").ok());
}

TEST(ManifestLoaderTest, LimitsOutsideTheirBoundsNameTheFieldAndTheRange) {
  auto parse = [](const std::string& limits) {
    return ManifestLoader::Parse(
        "name: \"x\" version: \"1.0.0\" entry: \"e\" protocol { min: 1 max: 1 } " + limits, "m");
  };
  absl::Status fast = parse("limits { heartbeat_interval_ms: 5 }").status();
  EXPECT_NE(fast.message().find("limits.heartbeat_interval_ms 5 is outside [20, 3600000]"),
            std::string::npos)
      << fast;
  EXPECT_FALSE(parse("limits { heartbeat_interval_ms: 3600001 }").ok());
  absl::Status tiny = parse("limits { max_message_bytes: 100 }").status();
  EXPECT_NE(tiny.message().find("limits.max_message_bytes 100 is below 16384"), std::string::npos)
      << tiny;
  EXPECT_TRUE(parse("limits { heartbeat_interval_ms: 20 max_message_bytes: 16384 }").ok());
  EXPECT_TRUE(parse("limits { heartbeat_interval_ms: 0 max_message_bytes: 0 }").ok());
}

TEST(ManifestLoaderTest, LoadsBundleAndChecksEntry) {
  auto dir = std::filesystem::temp_directory_path() /
             ("cordon-manifest-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "bin");
  std::ofstream(dir / "manifest.textproto") << kGood;
  auto missing = ManifestLoader::LoadBundle(dir);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("bin/echo"), std::string::npos);
  std::ofstream(dir / "bin/echo") << "#!/bin/sh\n";
  EXPECT_FALSE(ManifestLoader::LoadBundle(dir).ok());  // not executable
  ::chmod((dir / "bin/echo").c_str(), 0755);
  auto b = ManifestLoader::LoadBundle(dir);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->entry_path, dir / "bin/echo");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cordon::ipc
