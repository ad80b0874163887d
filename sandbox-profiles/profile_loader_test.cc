#include "sandbox-profiles/profile_loader.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox-profiles/seccomp_compiler.h"

namespace cordon::profiles {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cordon-profiles-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    return file;
  }

 private:
  std::string path_;
};

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

constexpr char kValid[] = "seccomp { groups: 'base' }\n";

TEST(ProfileLoaderTest, SearchPathOrder) {
  ScopedEnv env("CORDON_PROFILE_PATH", "/a/b::/c");
  std::vector<std::string> dirs = ProfileLoader::SearchPath();
  ASSERT_GE(dirs.size(), 5u);
  EXPECT_EQ(dirs[0], "/a/b");
  EXPECT_EQ(dirs[1], "/c");
  EXPECT_EQ(dirs[2], "/etc/cordon/profiles");
  EXPECT_EQ(dirs[3], "/usr/share/cordon/profiles");
  // This test binary lives in the build tree, so the source tree's profiles are searched last.
  EXPECT_EQ(dirs.back(), std::string(getenv("CORDON_SOURCE_DIR") ? getenv("CORDON_SOURCE_DIR")
                                                                 : CORDON_TEST_SOURCE_DIR) +
                             "/sandbox-profiles/profiles");
}

TEST(ProfileLoaderTest, ShippedProfilesLoadAndCompile) {
  for (const char* name : {"default", "minimal"}) {
    absl::StatusOr<cordon::v1::Profile> profile = ProfileLoader::Load(name);
    ASSERT_TRUE(profile.ok()) << profile.status();
    EXPECT_EQ(profile->name(), name);
    EXPECT_EQ(profile->hostname(), "cordon");
    EXPECT_EQ(profile->user().host_uid(), 65534u);
    EXPECT_EQ(profile->limits().wall_time_ms(), 0u);
    EXPECT_GT(profile->limits().memory_bytes(), 0u);
    EXPECT_GT(profile->limits().pids(), 0u);
    auto program = SeccompCompiler::Compile(profile->seccomp(), {});
    ASSERT_TRUE(program.ok()) << program.status();
  }
  auto def = ProfileLoader::Load("default");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->limits().memory_bytes(), 512u << 20);
  EXPECT_EQ(def->limits().pids(), 64u);
  EXPECT_EQ(def->limits().cpu_time_seconds(), 60u);
  EXPECT_EQ(def->limits().open_files(), 256u);
  EXPECT_EQ(def->limits().file_size_bytes(), 64u << 20);
  std::vector<std::string> destinations;
  for (const auto& m : def->mounts()) destinations.push_back(m.destination());
  EXPECT_THAT(destinations, ::testing::IsSupersetOf({"/usr", "/lib", "/bin", "/etc/ld.so.cache",
                                                     "/etc/passwd", "/tmp"}));
  EXPECT_THAT(destinations, ::testing::Not(::testing::Contains("/etc")));
  auto minimal = ProfileLoader::Load("minimal");
  ASSERT_TRUE(minimal.ok());
  for (const auto& m : minimal->mounts()) EXPECT_EQ(m.type(), cordon::v1::Mount::TMPFS);
}

TEST(ProfileLoaderTest, ProfilePathTakesPrecedenceAndPathsBypassSearch) {
  TempDir dir;
  dir.Write("default.textproto", std::string(kValid) + "hostname: 'mine'\n");
  ScopedEnv env("CORDON_PROFILE_PATH", dir.path());
  auto profile = ProfileLoader::Load("default");
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->hostname(), "mine");
  EXPECT_EQ(profile->name(), "default");  // from the file stem

  std::string other = dir.Write("other.textproto", std::string(kValid) + "name: 'x'\n");
  EXPECT_EQ(*ProfileLoader::Resolve(other), other);
  EXPECT_EQ(*ProfileLoader::Resolve("rel/x"), "rel/x");
  EXPECT_EQ(*ProfileLoader::Resolve("x.textproto"), "x.textproto");
  auto by_path = ProfileLoader::Load(other);
  ASSERT_TRUE(by_path.ok()) << by_path.status();
  EXPECT_EQ(by_path->name(), "x");
}

TEST(ProfileLoaderTest, NotFoundListsEveryPlaceSearched) {
  ScopedEnv env("CORDON_PROFILE_PATH", "/nonexistent-a:/nonexistent-b");
  auto missing = ProfileLoader::Load("no-such-profile");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  for (const std::string& dir : ProfileLoader::SearchPath()) {
    EXPECT_THAT(std::string(missing.status().message()),
                HasSubstr(dir + "/no-such-profile.textproto"));
  }
  EXPECT_FALSE(ProfileLoader::Load("bad name").ok());
  EXPECT_FALSE(ProfileLoader::Load("").ok());
  EXPECT_FALSE(ProfileLoader::Load(".hidden").ok());
}

TEST(ProfileLoaderTest, ParseErrorsCarryLineAndColumn) {
  auto bad = ProfileLoader::ParseText("name: 'x'\n  mountz { }\n", "p.textproto");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), StartsWith("p.textproto:2:"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("mountz"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("docs/profiles.md"));

  auto bad_enum = ProfileLoader::ParseText("mounts { type: BIND }", "q");
  ASSERT_FALSE(bad_enum.ok());
  EXPECT_THAT(std::string(bad_enum.status().message()), StartsWith("q:1:"));
}

TEST(ProfileLoaderTest, ValidationErrorsPointAtTheField) {
  auto bad = ProfileLoader::ParseText(
      "seccomp { groups: 'base' }\n"
      "mounts { type: BIND_RO source: '/usr' }\n"
      "mounts {\n"
      "  type: TMPFS\n"
      "  destination: '/proc'\n"
      "  size_bytes: 1\n"
      "}\n"
      "mounts { type: TMPFS destination: '/tmp' }\n"
      "seccomp_typo_free: 1\n",
      "v.textproto");
  ASSERT_FALSE(bad.ok());  // parse error first: unknown field
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("v.textproto:9:"));

  auto invalid = ProfileLoader::ParseText(
      "seccomp {\n"
      "  groups: 'base'\n"
      "  allow: 'ptrace'\n"
      "}\n"
      "mounts {\n"
      "  type: TMPFS\n"
      "  destination: '/proc'\n"
      "  size_bytes: 1\n"
      "}\n"
      "mounts { type: TMPFS destination: '/tmp' }\n",
      "v.textproto");
  ASSERT_FALSE(invalid.ok());
  const std::string message(invalid.status().message());
  EXPECT_THAT(message, HasSubstr("v.textproto:7:3: mounts[0].destination: "));
  EXPECT_THAT(message, HasSubstr("v.textproto:3:3: seccomp.allow[0]: "));
  // A missing field points at the message lacking it.
  EXPECT_THAT(message, HasSubstr("v.textproto:10:1: mounts[1].size_bytes: "));
}

TEST(ProfileLoaderTest, RefusesHugeAndNonRegularFiles) {
  TempDir dir;
  std::string big =
      dir.Write("big.textproto", std::string(ProfileLoader::kMaxProfileBytes + 1, '#'));
  auto huge = ProfileLoader::Load(big);
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("larger than"));
  auto directory = ProfileLoader::Load(dir.path() + "/");
  EXPECT_FALSE(directory.ok());
}

}  // namespace
}  // namespace cordon::profiles
