#include "sandbox-profiles/compiled_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "sandbox-profiles/string_view_compat.h"

namespace cordon::profiles {
namespace {

constexpr char kMagic[8] = {'C', 'D', 'N', 'C', 'A', 'C', 'H', '1'};
constexpr const char* kEnvironment = "CORDON_CACHE";
constexpr const char* kRootDirectory = "/var/cache/cordon";
// Far above any real input (a few KiB of rules, a profile of at most 1 MiB); bounds what a
// lookup reads before comparing.
constexpr size_t kMaxInputBytes = 2 << 20;

// The file: this header, the key (kind, NUL, input: compared byte for byte, the file name only
// finds it), then the result.
struct FileHeader {
  char magic[8];
  uint32_t key_bytes;
  uint32_t result_bytes;
  uint64_t checksum;  // FNV-1a over key and result: catches a damaged file
};
static_assert(sizeof(FileHeader) == 24, "cache file header layout");

// FNV-1a, 64 bits. Not a cryptographic hash and not meant as one: whoever can write the cache
// can write cordon's binary too (see the trust rules), and a name collision is only a miss
// because the whole input is compared. It costs nothing at start-up, where OpenSSL's first
// digest initialises its provider tables (several million instructions).
uint64_t Fnv1a(std::string_view bytes, uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string KeyOf(std::string_view kind, std::string_view input) {
  std::string key(kind);
  key.push_back('\0');
  key.append(input);
  return key;
}

// Owned by us, not writable by group or others: as trustworthy as our own files.
absl::Status CheckTrusted(const struct stat& st, const std::string& what) {
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " is owned by uid ", st.st_uid, ", not by the launcher's uid ", geteuid(),
        "; a cached seccomp program must be as trusted as cordon itself: chown it or remove it"));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " is writable by group or others (mode ", absl::Hex(st.st_mode & 07777),
        "); anyone who can write it could weaken every plugin's filter: chmod go-w it"));
  }
  return absl::OkStatus();
}

std::string FileName(std::string_view kind, std::string_view key) {
  return absl::StrCat(Av(kind), "-", absl::Hex(Fnv1a(key), absl::kZeroPad16));
}

// mkdir -p: missing parents 0755, the cache itself 0700.
absl::Status MakeDirectories(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const bool last = slash == std::string::npos;
    std::string prefix = last ? path : path.substr(0, slash);
    if (!prefix.empty() && mkdir(prefix.c_str(), last ? 0700 : 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("compiled cache: cannot create ", prefix, ": ",
                                              strerror(errno),
                                              "; set CORDON_CACHE=off to run without it"));
    }
    if (last) return absl::OkStatus();
  }
}

}  // namespace

CompiledCache::CompiledCache(std::string directory, int dir_fd)
    : directory_(std::move(directory)), dir_fd_(dir_fd) {}

CompiledCache::~CompiledCache() { close(dir_fd_); }

std::optional<std::string> CompiledCache::DefaultDirectory() {
  if (const char* env = getenv(kEnvironment); env != nullptr) {
    if (*env == '\0' || strcmp(env, "off") == 0) return std::nullopt;
    return std::string(env);
  }
  if (geteuid() == 0) return std::string(kRootDirectory);
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<CompiledCache>> CompiledCache::Open(const std::string& directory) {
  if (directory.empty() || directory[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("compiled cache directory '", directory,
                                                   "' must be an absolute path (CORDON_CACHE)"));
  }
  if (absl::Status made = MakeDirectories(directory); !made.ok()) return made;
  int fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("compiled cache: cannot open ", directory, ": ",
                                            strerror(errno),
                                            " (a symlink is refused; give the real directory)"));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return absl::InternalError(
        absl::StrCat("compiled cache: fstat ", directory, ": ", strerror(err)));
  }
  if (absl::Status trusted = CheckTrusted(st, "compiled cache " + directory); !trusted.ok()) {
    close(fd);
    return trusted;
  }
  return std::unique_ptr<CompiledCache>(new CompiledCache(directory, fd));
}

CompiledCache* CompiledCache::Default(std::string* warning) {
  // Loads run on many threads at once in `cordon serve`: everything shared is set inside
  // call_once and never freed; the one-time warning is claimed with an atomic exchange.
  static std::once_flag once;
  static CompiledCache* cache = nullptr;
  static const std::string* problem = nullptr;
  static std::atomic<bool> warned{false};
  std::call_once(once, [] {
    std::optional<std::string> directory = DefaultDirectory();
    if (!directory) return;
    absl::StatusOr<std::unique_ptr<CompiledCache>> opened = Open(*directory);
    if (opened.ok()) {
      cache = opened->release();
    } else {
      problem = new std::string(opened.status().message());
    }
  });
  // Said once per process: the cache is an optimisation, its absence only costs time.
  if (problem != nullptr && warning != nullptr && !warned.exchange(true)) *warning = *problem;
  return cache;
}

std::optional<std::string> CompiledCache::Lookup(std::string_view kind, std::string_view input,
                                                 size_t max_result_bytes) const {
  const std::string key = KeyOf(kind, input);
  if (key.size() > kMaxInputBytes) return std::nullopt;
  const std::string name = FileName(kind, key);
  int fd = openat(dir_fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !CheckTrusted(st, name).ok()) {
    return std::nullopt;
  }
  // The size is bounded before anything is allocated: header, this key, at most
  // max_result_bytes.
  const size_t size = static_cast<size_t>(st.st_size);
  const size_t fixed = sizeof(FileHeader) + key.size();
  if (size < fixed || size - fixed > max_result_bytes) return std::nullopt;
  std::string bytes(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, bytes.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    done += static_cast<size_t>(n);
  }
  FileHeader header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  const std::string_view stored_key(bytes.data() + sizeof(header), key.size());
  const std::string_view result(bytes.data() + fixed, size - fixed);
  if (std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0 || header.key_bytes != key.size() ||
      header.result_bytes != result.size() || stored_key != key ||
      header.checksum != Fnv1a(result, Fnv1a(stored_key))) {
    return std::nullopt;
  }
  return std::string(result);
}

absl::Status CompiledCache::Store(std::string_view kind, std::string_view input,
                                  std::string_view result) const {
  const std::string key = KeyOf(kind, input);
  if (key.size() > kMaxInputBytes || result.size() > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("compiled cache: refusing to store ",
                                                   result.size(), " bytes for ", key.size(),
                                                   " bytes of input"));
  }
  FileHeader header{};
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.key_bytes = static_cast<uint32_t>(key.size());
  header.result_bytes = static_cast<uint32_t>(result.size());
  header.checksum = Fnv1a(result, Fnv1a(key));
  std::string bytes(reinterpret_cast<const char*>(&header), sizeof(header));
  bytes.append(key);
  bytes.append(result);

  const std::string name = FileName(kind, key);
  // Unique per process and call: two threads of one launcher may store the same key at once.
  static std::atomic<uint64_t> serial{0};
  const std::string temporary = absl::StrCat(name, ".", getpid(), ".", serial.fetch_add(1), ".tmp");
  int fd = openat(dir_fd_, temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("compiled cache: cannot create ", directory_, "/",
                                            temporary, ": ", strerror(errno)));
  }
  size_t done = 0;
  int err = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  // A concurrent launcher storing the same key writes the same bytes; the rename is atomic, so
  // a reader sees one whole file or none.
  if (close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && renameat(dir_fd_, temporary.c_str(), dir_fd_, name.c_str()) != 0) err = errno;
  if (err != 0) {
    unlinkat(dir_fd_, temporary.c_str(), 0);
    return absl::InternalError(
        absl::StrCat("compiled cache: cannot write ", directory_, "/", name, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace cordon::profiles
