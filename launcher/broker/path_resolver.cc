#include "launcher/broker/path_resolver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace cordon::broker {
namespace {

constexpr uint64_t kResolveBase = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

long Openat2(int dirfd, const char* path, open_how* how) {
  return syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

absl::StatusOr<ipc::UniqueFd> OpenRetrying(int dirfd, const std::string& rel, open_how* how,
                                           int max_retries) {
  for (int attempt = 0;; ++attempt) {
    long fd = Openat2(dirfd, rel.c_str(), how);
    if (fd >= 0) return ipc::UniqueFd(static_cast<int>(fd));
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN && attempt < max_retries) continue;
    switch (err) {
      case EXDEV:
        return absl::PermissionDeniedError(
            "path leaves the granted directory (.., absolute symlink, magic link or mount "
            "crossing)");
      case ELOOP:
        return absl::PermissionDeniedError(
            "path goes through a symlink, which this grant does not follow (or a symlink loop)");
      case EAGAIN:
        return absl::PermissionDeniedError(
            "path kept changing under concurrent renames; refused rather than guessed");
      case ENOENT:
        return absl::NotFoundError("no such file or directory");
      case EEXIST:
        return absl::AlreadyExistsError("file exists (fs.create makes new files only)");
      case ENOTDIR:
        return absl::NotFoundError("a path component is not a directory");
      case ENXIO:
        return absl::PermissionDeniedError("not a regular file (FIFO or device)");
      case ENOSYS:
        return absl::UnimplementedError("openat2(2) is unavailable (Linux >= 5.6 needed)");
      default:
        return absl::ErrnoToStatus(err, "openat2");
    }
  }
}

}  // namespace

absl::StatusOr<PathResolver> PathResolver::Open(const std::string& host_dir,
                                                const Options& options) {
  if (host_dir.empty() || host_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("granted directory '", host_dir, "' is not an absolute host path"));
  }
  int fd = open(host_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open granted directory '", host_dir,
                                                   "'; create it or fix the profile's fs bound"));
  }
  return PathResolver(ipc::UniqueFd(fd), host_dir, options);
}

absl::StatusOr<PathResolver> PathResolver::OpenSubdir(const std::vector<std::string>& components,
                                                      const Options& options) const {
  std::string rel = components.empty() ? "." : absl::StrJoin(components, "/");
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = kResolveBase | (options_.follow_symlinks ? 0 : RESOLVE_NO_SYMLINKS);
  absl::StatusOr<ipc::UniqueFd> fd = OpenRetrying(dir_.get(), rel, &how, options_.max_retries);
  std::string host = components.empty() ? host_dir_ : absl::StrCat(host_dir_, "/", rel);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(),
                        absl::StrCat("granted directory '", host, "': ", fd.status().message()));
  }
  return PathResolver(std::move(*fd), host, options);
}

absl::StatusOr<std::vector<std::string>> PathResolver::SplitPluginPath(absl::string_view path) {
  if (path.size() >= PATH_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("path of ", path.size(), " bytes is longer than PATH_MAX-1 (4095)"));
  }
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("path contains a NUL byte");
  }
  if (!ValidUtf8(path)) return absl::InvalidArgumentError("path is not valid UTF-8");
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("path '", absl::CEscape(path), "' contains a control character"));
    }
  }
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "path '", path, "' is not absolute; name files by the plugin-visible path of the grant"));
  }
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return absl::PermissionDeniedError(
          absl::StrCat("path '", path, "' has a '..' component, which is never allowed"));
    }
    if (part.size() > NAME_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("path component of ", part.size(), " bytes is longer than NAME_MAX"));
    }
    out.emplace_back(part);
  }
  return out;
}

absl::StatusOr<int> PathResolver::FlagsFor(const OpenIntent& intent) {
  if (!intent.read && !intent.write) {
    return absl::InvalidArgumentError("open mode unspecified: ask for read, write or both");
  }
  if ((intent.truncate || intent.append || intent.create) && !intent.write) {
    return absl::InvalidArgumentError("truncate, append and create need write mode");
  }
  if (intent.truncate && intent.append) {
    return absl::InvalidArgumentError("truncate and append exclude each other");
  }
  int flags = O_CLOEXEC | O_NOCTTY;
  flags |= intent.read && intent.write ? O_RDWR : intent.write ? O_WRONLY : O_RDONLY;
  if (intent.truncate) flags |= O_TRUNC;
  if (intent.append) flags |= O_APPEND;
  if (intent.create) flags |= O_CREAT | O_EXCL;
  return flags;
}

absl::StatusOr<ipc::UniqueFd> PathResolver::OpenBeneath(const std::vector<std::string>& components,
                                                        const OpenIntent& intent) const {
  if (components.empty()) {
    return absl::PermissionDeniedError("path names the granted directory itself, not a file");
  }
  absl::StatusOr<int> flags = FlagsFor(intent);
  if (!flags.ok()) return flags.status();
  open_how how{};
  // O_NONBLOCK so that a FIFO planted in the directory cannot hang the broker in open(2); it is
  // cleared again below once the file is known to be regular.
  how.flags = static_cast<uint64_t>(*flags) | O_NONBLOCK;
  if (!options_.follow_symlinks) how.flags |= O_NOFOLLOW;
  if (intent.create) how.mode = options_.create_mode;
  how.resolve = kResolveBase | (options_.follow_symlinks ? 0 : RESOLVE_NO_SYMLINKS);
  std::string rel = absl::StrJoin(components, "/");
  absl::StatusOr<ipc::UniqueFd> fd = OpenRetrying(dir_.get(), rel, &how, options_.max_retries);
  if (!fd.ok()) return fd.status();
  struct stat st;
  if (fstat(fd->get(), &st) != 0) return absl::ErrnoToStatus(errno, "fstat");
  if (!S_ISREG(st.st_mode)) {
    return absl::PermissionDeniedError(
        S_ISDIR(st.st_mode) ? "path names a directory; only regular files are brokered"
                            : "path names a FIFO, socket or device; only regular files are "
                              "brokered");
  }
  // F_SETFL only looks at the status flags (O_APPEND, O_NONBLOCK...), so the flags we opened
  // with minus O_NONBLOCK are exactly the ones to keep; no F_GETFL round trip needed.
  if (fcntl(fd->get(), F_SETFL, static_cast<int>(how.flags & ~uint64_t{O_NONBLOCK})) != 0) {
    return absl::ErrnoToStatus(errno, "fcntl(F_SETFL)");
  }
  return std::move(*fd);
}

}  // namespace cordon::broker
