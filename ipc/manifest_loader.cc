#include "ipc/manifest_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "ipc/envelope_codec.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {
namespace {

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(absl::string_view source) : source_(source) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    // protobuf counts from 0; editors count from 1.
    errors_.push_back(absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int line, google::protobuf::io::ColumnNumber column,
                  const std::string& message) override {
    AddError(line, column, message);
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

constexpr absl::string_view kSchemaHint = "; see docs/protocol.md for the manifest schema";

absl::Status Invalid(absl::string_view source, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", what, kSchemaHint));
}

}  // namespace

absl::StatusOr<cordon::v1::Manifest> ManifestLoader::Parse(absl::string_view text,
                                                           absl::string_view source) {
  if (text.size() > kMaxManifestBytes) {
    return Invalid(source,
                   absl::StrCat("manifest is ", text.size(), " bytes, cap is ", kMaxManifestBytes));
  }
  cordon::v1::Manifest manifest;
  CollectErrors errors(source);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &manifest)) {
    std::string joined = absl::StrJoin(errors.errors(), "\n");
    if (joined.empty()) joined = absl::StrCat(source, ": cannot parse manifest");
    return absl::InvalidArgumentError(absl::StrCat(joined, kSchemaHint));
  }
  if (auto s = Validate(manifest, source); !s.ok()) return s;
  return manifest;
}

absl::Status ManifestLoader::Validate(const cordon::v1::Manifest& m, absl::string_view source) {
  if (!IsValidPluginName(m.name())) {
    return Invalid(source, absl::StrCat("name '", m.name().substr(0, 80),
                                        "' must match [a-z0-9][a-z0-9._-]{0,63}"));
  }
  if (!IsValidSemver(m.version())) {
    return Invalid(source, absl::StrCat("version '", m.version().substr(0, 80),
                                        "' is not a semantic version (MAJOR.MINOR.PATCH)"));
  }
  const std::string& e = m.entry();
  if (e.empty()) return Invalid(source, "entry is required (the executable, bundle-relative)");
  if (e.size() > 1024 || e[0] == '/' || e.find('\0') != std::string::npos) {
    return Invalid(source, absl::StrCat("entry '", e.substr(0, 80),
                                        "' must be a relative path inside the bundle"));
  }
  for (const auto& part : std::filesystem::path(e)) {
    if (part == "..") {
      return Invalid(source, absl::StrCat("entry '", e.substr(0, 80), "' must not contain '..'"));
    }
  }
  if (!m.has_protocol() || m.protocol().min() == 0 || m.protocol().min() > m.protocol().max()) {
    return Invalid(source, absl::StrCat("protocol { min: ", m.protocol().min(), " max: ",
                                        m.protocol().max(), " } must be set with 1 <= min <= max"));
  }
  const cordon::v1::PluginLimits& limits = m.limits();
  if (limits.heartbeat_interval_ms() != 0 &&
      (limits.heartbeat_interval_ms() < kMinHeartbeatIntervalMs ||
       limits.heartbeat_interval_ms() > kMaxHeartbeatIntervalMs)) {
    return Invalid(source,
                   absl::StrCat("limits.heartbeat_interval_ms ", limits.heartbeat_interval_ms(),
                                " is outside [", kMinHeartbeatIntervalMs, ", ",
                                kMaxHeartbeatIntervalMs, "] (0: the host's default of 1000)"));
  }
  if (limits.max_message_bytes() != 0 && limits.max_message_bytes() < kMinMessageBytes) {
    return Invalid(
        source, absl::StrCat("limits.max_message_bytes ", limits.max_message_bytes(), " is below ",
                             kMinMessageBytes, " (0: the host's default)"));
  }
  if (m.args_size() > 256) return Invalid(source, "more than 256 args");
  if (m.capabilities_size() > 256) return Invalid(source, "more than 256 capabilities");
  for (const auto& c : m.capabilities()) {
    if (c.kind().empty() || c.kind().size() > 64) {
      return Invalid(source, "every capability needs a kind of at most 64 bytes");
    }
    if (c.target().size() > 1024) {
      return Invalid(source, absl::StrCat("capability ", c.kind(), " target over 1024 bytes"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PluginBundle> ManifestLoader::LoadBundle(const std::filesystem::path& directory) {
  std::filesystem::path manifest_path = directory / std::string(kManifestFileName);
  std::string source = manifest_path.string();
  UniqueFd fd(::open(source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("open plugin manifest ", source, " (a bundle is a directory with ",
                            kManifestFileName, ")"));
  }
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", source));
    }
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > kMaxManifestBytes) {
      return Invalid(source, absl::StrCat("manifest exceeds ", kMaxManifestBytes, " bytes"));
    }
    text.append(buf, static_cast<size_t>(n));
  }
  auto manifest = Parse(text, source);
  if (!manifest.ok()) return manifest.status();
  PluginBundle bundle;
  bundle.directory = directory;
  bundle.entry_path = directory / manifest->entry();
  struct stat st;
  if (::stat(bundle.entry_path.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat(source, ": entry ", bundle.entry_path.string(), " cannot be found"));
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
    return Invalid(source, absl::StrCat("entry ", bundle.entry_path.string(),
                                        " is not an executable regular file"));
  }
  bundle.manifest = std::move(*manifest);
  return bundle;
}

}  // namespace cordon::ipc
