#include "sandbox-profiles/profile_loader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "sandbox-profiles/build_id.h"
#include "sandbox-profiles/compiled_cache.h"
#include "sandbox-profiles/profile_defaults.h"
#include "sandbox-profiles/profile_validator.h"
#include "sandbox-profiles/string_view_compat.h"

namespace cordon::profiles {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

constexpr absl::string_view kSuffix = ".textproto";
constexpr absl::string_view kSchemaHint = "see docs/profiles.md for the schema";

class Collector : public google::protobuf::io::ErrorCollector {
 public:
  explicit Collector(absl::string_view source) : source_(source) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    // The tokenizer counts from 0; editors count from 1.
    lines_.push_back(
        absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message, "; ", kSchemaHint));
  }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

// "file:line:column" of a validator field path such as "mounts[2].destination", using the
// deepest part of the path the parser recorded a location for (a missing field points at the
// message that lacks it). Empty when nothing matched (e.g. the whole profile is empty).
std::string LocationOf(const TextFormat::ParseInfoTree& root, absl::string_view field_path) {
  const TextFormat::ParseInfoTree* tree = &root;
  const Descriptor* descriptor = cordon::v1::Profile::descriptor();
  TextFormat::ParseLocation best;
  for (absl::string_view step : absl::StrSplit(field_path, '.')) {
    if (tree == nullptr || descriptor == nullptr) break;
    int index = -1;
    absl::string_view name = step;
    if (size_t open = step.find('['); open != absl::string_view::npos) {
      name = step.substr(0, open);
      index = std::atoi(std::string(step.substr(open + 1)).c_str());
    }
    const FieldDescriptor* field = descriptor->FindFieldByName(std::string(name));
    if (field == nullptr) break;
    if (field->is_repeated() && index < 0) index = 0;
    if (!field->is_repeated()) index = -1;
    TextFormat::ParseLocation here = tree->GetLocation(field, index);
    if (here.line < 0) break;
    best = here;
    if (field->type() != FieldDescriptor::TYPE_MESSAGE) break;
    tree = tree->GetTreeForNested(field, index);
    descriptor = field->message_type();
  }
  if (best.line < 0) return "";
  return absl::StrCat(best.line + 1, ":", best.column + 1);
}

std::string StemOf(absl::string_view source) {
  size_t slash = source.rfind('/');
  absl::string_view base = slash == absl::string_view::npos ? source : source.substr(slash + 1);
  if (!absl::EndsWith(base, kSuffix)) return "";
  return std::string(base.substr(0, base.size() - kSuffix.size()));
}

bool IsProfileName(absl::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string RealPath(const char* path) {
  char buf[PATH_MAX];
  if (realpath(path, buf) == nullptr) return "";
  return buf;
}

}  // namespace

std::vector<std::string> ProfileLoader::SearchPath() {
  std::vector<std::string> dirs;
  auto add = [&dirs](std::string dir) {
    if (dir.empty()) return;
    for (const std::string& d : dirs) {
      if (d == dir) return;
    }
    dirs.push_back(std::move(dir));
  };
  if (const char* env = getenv("CORDON_PROFILE_PATH"); env != nullptr) {
    for (absl::string_view dir : absl::StrSplit(env, ':', absl::SkipEmpty())) {
      add(std::string(dir));
    }
  }
  add("/etc/cordon/profiles");
  add("/usr/share/cordon/profiles");
#ifdef CORDON_INSTALL_PROFILE_DIR
  add(CORDON_INSTALL_PROFILE_DIR);
#endif
#if defined(CORDON_SOURCE_DIR) && defined(CORDON_BUILD_DIR)
  // Lets `./build/launcher/cli/cordon run --profile default` work before `make install`,
  // without letting an installed binary read a stale checkout.
  std::string exe = RealPath("/proc/self/exe");
  std::string build = RealPath(CORDON_BUILD_DIR);
  if (!exe.empty() && !build.empty() && absl::StartsWith(exe, build + "/")) {
    add(std::string(CORDON_SOURCE_DIR) + "/sandbox-profiles/profiles");
  }
#endif
  return dirs;
}

absl::StatusOr<std::string> ProfileLoader::Resolve(std::string_view name_or_path_std) {
  const absl::string_view name_or_path = Av(name_or_path_std);
  if (name_or_path.empty()) {
    return absl::InvalidArgumentError("empty profile name; pass a NAME (e.g. default) or a PATH");
  }
  if (name_or_path.find('/') != std::string_view::npos || absl::EndsWith(name_or_path, kSuffix)) {
    return std::string(name_or_path);
  }
  if (!IsProfileName(name_or_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("profile name '", absl::CEscape(name_or_path),
                     "' may only contain letters, digits, '-', '_' and '.' (at most 64, not "
                     "starting with '.'); pass a path containing '/' for a file elsewhere"));
  }
  std::vector<std::string> tried;
  for (const std::string& dir : SearchPath()) {
    std::string candidate = absl::StrCat(dir, "/", name_or_path, kSuffix);
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return candidate;
    tried.push_back(std::move(candidate));
  }
  return absl::NotFoundError(
      absl::StrCat("profile '", name_or_path, "' not found; searched: ", absl::StrJoin(tried, ", "),
                   ". Pass a path (containing '/') or add a directory to CORDON_PROFILE_PATH"));
}

absl::StatusOr<std::string> ProfileLoader::ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("profile ", path, ": cannot open: ", strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("profile ", path, ": fstat: ", strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("profile ", path, ": not a regular file"));
  }
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(absl::StrCat("profile ", path, ": read: ", strerror(errno)));
    }
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > kMaxProfileBytes) {
      return absl::InvalidArgumentError(absl::StrCat("profile ", path, ": larger than ",
                                                     kMaxProfileBytes, " bytes; not a profile"));
    }
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

absl::StatusOr<cordon::v1::Profile> ProfileLoader::Load(std::string_view name_or_path) {
  absl::StatusOr<std::string> path = Resolve(name_or_path);
  if (!path.ok()) return path.status();
  absl::StatusOr<std::string> text = ReadFile(*path);
  if (!text.ok()) return text.status();
  return ParseText(*text, *path);
}

absl::StatusOr<cordon::v1::Profile> ProfileLoader::LoadCached(std::string_view name_or_path,
                                                              CompiledCache* cache,
                                                              bool* from_cache) {
  if (from_cache != nullptr) *from_cache = false;
  absl::StatusOr<std::string> path = Resolve(name_or_path);
  if (!path.ok()) return path.status();
  absl::StatusOr<std::string> text = ReadFile(*path);
  if (!text.ok()) return text.status();
  // The build ids of this code (parser, validator, defaults and the schema compiled into it)
  // and of the protobuf runtime (the same object when linked statically, the default).
  // Either id missing: no cache, since the key would no longer change with that code.
  static const std::string* build = [] {
    const std::string cordon = BuildIdOf(reinterpret_cast<const void*>(&ProfileLoader::ParseText));
    const std::string protobuf = BuildIdOf(reinterpret_cast<const void*>(
        static_cast<bool (*)(const std::string&, google::protobuf::Message*)>(
            &google::protobuf::TextFormat::ParseFromString)));
    return new std::string(
        cordon.empty() || protobuf.empty() ? std::string() : absl::StrCat(cordon, " ", protobuf));
  }();
  if (cache == nullptr || build->empty()) return ParseText(*text, *path);
  constexpr std::string_view kKind = "profile";
  const std::string input =
      absl::StrCat("cordon profile 1\nbuild ", *build, "\nsource ", *path, "\n", *text);
  if (std::optional<std::string> cached = cache->Lookup(kKind, input, 4 * kMaxProfileBytes)) {
    cordon::v1::Profile profile;
    if (profile.ParseFromString(*cached)) {
      if (from_cache != nullptr) *from_cache = true;
      return profile;
    }
  }
  absl::StatusOr<cordon::v1::Profile> parsed = ParseText(*text, *path);
  // A cache that cannot be written costs the next start a parse, nothing else.
  if (parsed.ok()) (void)cache->Store(kKind, input, parsed->SerializeAsString());
  return parsed;
}

absl::StatusOr<cordon::v1::Profile> ProfileLoader::ParseText(std::string_view text,
                                                             std::string_view source_std) {
  const absl::string_view source_name = Av(source_std);
  if (text.size() > kMaxProfileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": larger than ", kMaxProfileBytes, " bytes; not a profile"));
  }
  cordon::v1::Profile profile;
  Collector errors(source_name);
  TextFormat::ParseInfoTree locations;
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&locations);
  if (!parser.ParseFromString(std::string(text), &profile)) {
    if (errors.lines().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ": cannot parse; ", kSchemaHint));
    }
    return absl::InvalidArgumentError(absl::StrJoin(errors.lines(), "\n"));
  }
  std::vector<ProfileIssue> issues = ProfileValidator::Check(profile);
  if (!issues.empty()) {
    std::vector<std::string> lines;
    for (const ProfileIssue& issue : issues) {
      std::string where = LocationOf(locations, issue.field);
      lines.push_back(absl::StrCat(source_name, where.empty() ? "" : ":", where, ": ", issue.field,
                                   ": ", issue.message));
    }
    return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  }
  if (profile.name().empty()) {
    std::string stem = StemOf(source_name);
    if (IsProfileName(stem)) profile.set_name(stem);
  }
  return ProfileDefaults::Apply(std::move(profile));
}

}  // namespace cordon::profiles
