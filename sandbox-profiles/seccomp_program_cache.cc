#include "sandbox-profiles/seccomp_program_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace cordon::profiles {
namespace {

constexpr char kMagic[8] = {'C', 'D', 'N', 'S', 'B', 'P', 'F', '2'};
constexpr const char* kEnvironment = "CORDON_SECCOMP_CACHE";
constexpr const char* kRootDirectory = "/var/cache/cordon/seccomp";
// Far above any real input (a few KiB); bounds what a lookup reads before comparing.
constexpr size_t kMaxInputBytes = 1 << 20;

// The file: this header, the compile input (compared byte for byte: the input itself is the
// key, the file name only finds it), then `count` sock_filter instructions.
struct FileHeader {
  char magic[8];
  uint32_t input_bytes;
  uint32_t count;
  uint64_t checksum;  // FNV-1a over the input and the instructions: catches a damaged file
};
static_assert(sizeof(FileHeader) == 24, "cache file header layout");
static_assert(sizeof(sock_filter) == 8, "sock_filter layout");

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

std::string_view AsBytes(const std::vector<sock_filter>& program) {
  return std::string_view(reinterpret_cast<const char*>(program.data()),
                          program.size() * sizeof(sock_filter));
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

std::string FileName(std::string_view compile_input) {
  return absl::StrCat(absl::Hex(Fnv1a(compile_input), absl::kZeroPad16), ".bpf");
}

// mkdir -p: missing parents 0755, the cache itself 0700.
absl::Status MakeDirectories(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const bool last = slash == std::string::npos;
    std::string prefix = last ? path : path.substr(0, slash);
    if (!prefix.empty() && mkdir(prefix.c_str(), last ? 0700 : 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("seccomp program cache: cannot create ", prefix, ": ",
                                              strerror(errno),
                                              "; set CORDON_SECCOMP_CACHE=off to run without it"));
    }
    if (last) return absl::OkStatus();
  }
}

}  // namespace

SeccompProgramCache::SeccompProgramCache(std::string directory, int dir_fd)
    : directory_(std::move(directory)), dir_fd_(dir_fd) {}

SeccompProgramCache::~SeccompProgramCache() { close(dir_fd_); }

std::optional<std::string> SeccompProgramCache::DefaultDirectory() {
  if (const char* env = getenv(kEnvironment); env != nullptr) {
    if (*env == '\0' || strcmp(env, "off") == 0) return std::nullopt;
    return std::string(env);
  }
  if (geteuid() == 0) return std::string(kRootDirectory);
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<SeccompProgramCache>> SeccompProgramCache::Open(
    const std::string& directory) {
  if (directory.empty() || directory[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("seccomp program cache directory '", directory,
                     "' must be an absolute path (CORDON_SECCOMP_CACHE)"));
  }
  if (absl::Status made = MakeDirectories(directory); !made.ok()) return made;
  int fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("seccomp program cache: cannot open ", directory, ": ",
                                            strerror(errno),
                                            " (a symlink is refused; give the real directory)"));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return absl::InternalError(
        absl::StrCat("seccomp program cache: fstat ", directory, ": ", strerror(err)));
  }
  if (absl::Status trusted = CheckTrusted(st, "seccomp program cache " + directory);
      !trusted.ok()) {
    close(fd);
    return trusted;
  }
  return std::unique_ptr<SeccompProgramCache>(new SeccompProgramCache(directory, fd));
}

SeccompProgramCache* SeccompProgramCache::Default(std::string* warning) {
  // Loads run on many threads at once in `cordon serve`: everything shared is set inside
  // call_once and never freed; the one-time warning is claimed with an atomic exchange.
  static std::once_flag once;
  static SeccompProgramCache* cache = nullptr;
  static const std::string* problem = nullptr;
  static std::atomic<bool> warned{false};
  std::call_once(once, [] {
    std::optional<std::string> directory = DefaultDirectory();
    if (!directory) return;
    absl::StatusOr<std::unique_ptr<SeccompProgramCache>> opened = Open(*directory);
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

std::optional<std::vector<sock_filter>> SeccompProgramCache::Lookup(
    std::string_view compile_input) const {
  if (compile_input.size() > kMaxInputBytes) return std::nullopt;
  const std::string name = FileName(compile_input);
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
  // The size is bounded before anything is allocated: header, this input, at most
  // BPF_MAXINSNS instructions.
  const size_t size = static_cast<size_t>(st.st_size);
  const size_t fixed = sizeof(FileHeader) + compile_input.size();
  if (size <= fixed || size > fixed + BPF_MAXINSNS * sizeof(sock_filter) ||
      (size - fixed) % sizeof(sock_filter) != 0) {
    return std::nullopt;
  }
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
  const std::string_view stored_input(bytes.data() + sizeof(header), compile_input.size());
  const std::string_view body(bytes.data() + fixed, size - fixed);
  const size_t count = body.size() / sizeof(sock_filter);
  if (std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0 ||
      header.input_bytes != compile_input.size() || header.count != count ||
      stored_input != compile_input || header.checksum != Fnv1a(body, Fnv1a(stored_input))) {
    return std::nullopt;
  }
  std::vector<sock_filter> program(count);
  std::memcpy(program.data(), body.data(), body.size());
  return program;
}

absl::Status SeccompProgramCache::Store(std::string_view compile_input,
                                        const std::vector<sock_filter>& program) const {
  if (program.empty() || program.size() > BPF_MAXINSNS || compile_input.size() > kMaxInputBytes) {
    return absl::InvalidArgumentError(absl::StrCat("seccomp program cache: refusing to store ",
                                                   program.size(), " instructions for ",
                                                   compile_input.size(), " bytes of input"));
  }
  FileHeader header{};
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.input_bytes = static_cast<uint32_t>(compile_input.size());
  header.count = static_cast<uint32_t>(program.size());
  header.checksum = Fnv1a(AsBytes(program), Fnv1a(compile_input));
  std::string bytes(reinterpret_cast<const char*>(&header), sizeof(header));
  bytes.append(compile_input);
  bytes.append(AsBytes(program));

  const std::string name = FileName(compile_input);
  // Unique per process and call: two threads of one launcher may store the same key at once.
  static std::atomic<uint64_t> serial{0};
  const std::string temporary = absl::StrCat(name, ".", getpid(), ".", serial.fetch_add(1), ".tmp");
  int fd = openat(dir_fd_, temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("seccomp program cache: cannot create ", directory_,
                                            "/", temporary, ": ", strerror(errno)));
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
    return absl::InternalError(absl::StrCat("seccomp program cache: cannot write ", directory_, "/",
                                            name, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace cordon::profiles
