#include "sandbox-profiles/compiled_cache.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox-profiles/profile_loader.h"
#include "sandbox-profiles/seccomp_compiler.h"
#include "tests/integration/temp_dir.h"

namespace cordon::profiles {
namespace {

using ::testing::HasSubstr;

class CompiledCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<CompiledCache> OpenOrDie() {
    absl::StatusOr<std::unique_ptr<CompiledCache>> cache = CompiledCache::Open(dir_);
    EXPECT_TRUE(cache.ok()) << cache.status();
    return cache.ok() ? std::move(*cache) : nullptr;
  }

  // The one file a single Store leaves in the cache.
  std::string OnlyEntry() {
    std::string found;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      EXPECT_TRUE(found.empty()) << "more than one entry: " << entry.path();
      found = entry.path();
    }
    return found;
  }

  static std::string SomeResult(uint32_t answer) { return absl::StrCat("result ", answer); }

  integration::TempDir tree_;
  const std::string root_ = tree_.path();
  const std::string dir_ = tree_.File("cache");
};

bool SameProgram(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
}

constexpr size_t kMax = 1 << 16;

TEST_F(CompiledCacheTest, StoresAndFindsAResultUnderItsKey) {
  auto cache = OpenOrDie();
  ASSERT_NE(cache, nullptr);
  struct stat st;
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u) << "the cache directory is created private";

  const std::string key = "input one";
  EXPECT_FALSE(cache->Lookup("k", key, kMax).has_value());
  ASSERT_TRUE(cache->Store("k", key, SomeResult(1)).ok());
  std::optional<std::string> found = cache->Lookup("k", key, kMax);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, SomeResult(1));
  EXPECT_FALSE(cache->Lookup("k", "input two", kMax).has_value());
  EXPECT_FALSE(cache->Lookup("other-kind", key, kMax).has_value()) << "kinds are kept apart";
  EXPECT_FALSE(cache->Lookup("k", key, SomeResult(1).size() - 1).has_value())
      << "a result longer than the caller's bound is a miss";
  ASSERT_EQ(stat(OnlyEntry().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(CompiledCacheTest, DamagedOrMisplacedEntriesAreMisses) {
  auto cache = OpenOrDie();
  ASSERT_NE(cache, nullptr);
  const std::string key = "input";
  ASSERT_TRUE(cache->Store("k", key, SomeResult(2)).ok());
  const std::string path = OnlyEntry();

  // A flipped bit in the last instruction (the answer): the digest no longer matches.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  EXPECT_FALSE(cache->Lookup("k", key, kMax).has_value());

  // Another input's (valid) entry renamed to this input's name: the input inside differs.
  const std::string other = "other input";
  ASSERT_TRUE(cache->Store("k", other, SomeResult(1)).ok());
  std::filesystem::remove(path);
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::filesystem::rename(entry.path(), path);
  }
  EXPECT_FALSE(cache->Lookup("k", key, kMax).has_value());

  // Truncated.
  ASSERT_TRUE(cache->Store("k", key, SomeResult(1)).ok());
  ASSERT_EQ(truncate(path.c_str(), 24 + 7 + 3), 0);
  EXPECT_FALSE(cache->Lookup("k", key, kMax).has_value());

  // A symlink to a valid entry is not followed.
  ASSERT_TRUE(cache->Store("k", other, SomeResult(1)).ok());
  std::filesystem::remove(path);
  std::string other_path;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) other_path = entry.path();
  std::filesystem::create_symlink(other_path, path);
  EXPECT_FALSE(cache->Lookup("k", key, kMax).has_value());
}

TEST_F(CompiledCacheTest, EntriesOthersCouldHaveWrittenAreMisses) {
  auto cache = OpenOrDie();
  ASSERT_NE(cache, nullptr);
  const std::string key = "input";
  ASSERT_TRUE(cache->Store("k", key, SomeResult(1)).ok());
  const std::string path = OnlyEntry();
  ASSERT_TRUE(cache->Lookup("k", key, kMax).has_value());

  ASSERT_EQ(chmod(path.c_str(), 0620), 0);
  EXPECT_FALSE(cache->Lookup("k", key, kMax).has_value()) << "group-writable";
  ASSERT_EQ(chmod(path.c_str(), 0602), 0);
  EXPECT_FALSE(cache->Lookup("k", key, kMax).has_value()) << "world-writable";
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  ASSERT_TRUE(cache->Lookup("k", key, kMax).has_value());
  if (geteuid() == 0) {
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
    EXPECT_FALSE(cache->Lookup("k", key, kMax).has_value()) << "owned by another uid";
  }
}

TEST_F(CompiledCacheTest, OpenRefusesADirectoryOthersCouldWrite) {
  ASSERT_NE(OpenOrDie(), nullptr);
  ASSERT_EQ(chmod(dir_.c_str(), 0770), 0);
  absl::StatusOr<std::unique_ptr<CompiledCache>> opened = CompiledCache::Open(dir_);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr(dir_));
  EXPECT_THAT(opened.status().message(), HasSubstr("chmod go-w"));

  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  if (geteuid() == 0) {
    ASSERT_EQ(chown(dir_.c_str(), 65534, 65534), 0);
    opened = CompiledCache::Open(dir_);
    ASSERT_FALSE(opened.ok());
    EXPECT_THAT(opened.status().message(), HasSubstr("owned by uid 65534"));
    ASSERT_EQ(chown(dir_.c_str(), 0, 0), 0);
  }

  const std::string link = root_ + "/link";
  std::filesystem::create_directory_symlink(dir_, link);
  opened = CompiledCache::Open(link);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("symlink"));

  opened = CompiledCache::Open("relative/dir");
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("absolute"));
}

TEST_F(CompiledCacheTest, DefaultDirectoryFollowsTheEnvironment) {
  const char* saved = getenv("CORDON_CACHE");
  std::string saved_value = saved != nullptr ? saved : "";
  setenv("CORDON_CACHE", "off", 1);
  EXPECT_FALSE(CompiledCache::DefaultDirectory().has_value());
  setenv("CORDON_CACHE", dir_.c_str(), 1);
  EXPECT_EQ(CompiledCache::DefaultDirectory(), dir_);
  unsetenv("CORDON_CACHE");
  if (geteuid() == 0) {
    EXPECT_EQ(CompiledCache::DefaultDirectory(), "/var/cache/cordon");
  } else {
    EXPECT_FALSE(CompiledCache::DefaultDirectory().has_value());
  }
  if (saved != nullptr) setenv("CORDON_CACHE", saved_value.c_str(), 1);
}

cordon::v1::SeccompPolicy Policy(std::initializer_list<const char*> groups) {
  cordon::v1::SeccompPolicy policy;
  for (const char* g : groups) policy.add_groups(g);
  return policy;
}

// The compiler's use of the cache: the same input is compiled once, the cached program is
// byte for byte libseccomp's, and any change to the input is a different key.
TEST_F(CompiledCacheTest, CompilerUsesTheCacheOnlyForIdenticalInput) {
  auto cache = OpenOrDie();
  ASSERT_NE(cache, nullptr);
  SeccompCompileOptions uncached;
  uncached.user_notify = true;
  SeccompCompileOptions cached = uncached;
  cached.cache = cache.get();

  const cordon::v1::SeccompPolicy policy = Policy({"base", "file-read", "process"});
  absl::StatusOr<SeccompProgram> reference = SeccompCompiler::Compile(policy, uncached);
  ASSERT_TRUE(reference.ok()) << reference.status();
  EXPECT_FALSE(reference->from_cache);

  absl::StatusOr<SeccompProgram> first = SeccompCompiler::Compile(policy, cached);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->from_cache) << "an empty cache cannot answer";
  absl::StatusOr<SeccompProgram> second = SeccompCompiler::Compile(policy, cached);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->from_cache);
  EXPECT_TRUE(SameProgram(second->instructions, reference->instructions));
  EXPECT_EQ(second->allowed_syscalls, reference->allowed_syscalls);

  // A different allowlist, violation action or notify mode is a different key.
  absl::StatusOr<SeccompProgram> other = SeccompCompiler::Compile(Policy({"base"}), cached);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->from_cache);
  cordon::v1::SeccompPolicy kill = policy;
  kill.set_on_violation(cordon::v1::SeccompPolicy::KILL);
  SeccompCompileOptions cached_plain;
  cached_plain.cache = cache.get();
  absl::StatusOr<SeccompProgram> killing = SeccompCompiler::Compile(kill, cached_plain);
  ASSERT_TRUE(killing.ok());
  EXPECT_FALSE(killing->from_cache);
  absl::StatusOr<SeccompProgram> killing_reference =
      SeccompCompiler::Compile(kill, SeccompCompileOptions{});
  ASSERT_TRUE(killing_reference.ok());
  EXPECT_TRUE(SameProgram(killing->instructions, killing_reference->instructions));

  // The key names the compiler's build (the object holding libseccomp's code: this test binary,
  // which links it statically, or libseccomp.so), so a patched libseccomp with the same
  // version number never reuses a program the old one made.
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = bytes.find(" build-id ");
    ASSERT_NE(at, std::string::npos) << entry.path();
    const std::string id = bytes.substr(at + 10, bytes.find('\n', at) - at - 10);
    EXPECT_GE(id.size(), 16u) << "build id '" << id << "'";
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  }

  // Damaged entries: compiled again, and the result is still libseccomp's.
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x55');
  }
  absl::StatusOr<SeccompProgram> again = SeccompCompiler::Compile(policy, cached);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->from_cache);
  EXPECT_TRUE(SameProgram(again->instructions, reference->instructions));
}

// The profile loader's use of the cache: a hit is the same effective profile Load gives, and
// only for the same bytes at the same path; an invalid profile is never cached.
TEST_F(CompiledCacheTest, ProfileLoaderUsesTheCacheOnlyForIdenticalInput) {
  auto cache = OpenOrDie();
  ASSERT_NE(cache, nullptr);
  const std::string path = root_ + "/probe.textproto";
  auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  write("description: \"first\"\nseccomp { groups: \"base\" }\n");

  absl::StatusOr<cordon::v1::Profile> reference = ProfileLoader::Load(path);
  ASSERT_TRUE(reference.ok()) << reference.status();
  bool hit = true;
  absl::StatusOr<cordon::v1::Profile> first = ProfileLoader::LoadCached(path, cache.get(), &hit);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(hit);
  absl::StatusOr<cordon::v1::Profile> second = ProfileLoader::LoadCached(path, cache.get(), &hit);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(hit);
  EXPECT_EQ(second->SerializeAsString(), reference->SerializeAsString());
  EXPECT_EQ(second->name(), "probe") << "the file stem, as Load gives it";

  // Changed bytes: a miss, and the new content.
  write("description: \"second\"\nseccomp { groups: \"base\" }\n");
  absl::StatusOr<cordon::v1::Profile> changed = ProfileLoader::LoadCached(path, cache.get(), &hit);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(hit);
  EXPECT_EQ(changed->description(), "second");

  // The same bytes under another path: a miss (the path can name the profile).
  const std::string other = root_ + "/other.textproto";
  std::filesystem::copy_file(path, other);
  absl::StatusOr<cordon::v1::Profile> moved = ProfileLoader::LoadCached(other, cache.get(), &hit);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_FALSE(hit);
  EXPECT_EQ(moved->name(), "other");

  // An invalid profile fails exactly as Load fails, every time, and leaves no entry.
  const size_t entries = std::distance(std::filesystem::directory_iterator(dir_), {});
  write("seccomp { groups: \"no-such-group\" }\n");
  absl::StatusOr<cordon::v1::Profile> bad = ProfileLoader::LoadCached(path, cache.get(), &hit);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status(), ProfileLoader::Load(path).status());
  EXPECT_FALSE(ProfileLoader::LoadCached(path, cache.get(), &hit).ok());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}),
            static_cast<std::ptrdiff_t>(entries));
}

}  // namespace
}  // namespace cordon::profiles
