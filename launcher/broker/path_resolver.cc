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
#include "ipc/utf8_text.h"

namespace cordon::broker {
namespace {

constexpr uint64_t kResolveBase = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

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

// Opens a regular file only: `how` must carry O_NONBLOCK, so that a FIFO planted in the
// directory cannot hang the broker in open(2); it is cleared again once the file is known to be
// regular. A directory fd would let the plugin openat() its way out.
absl::StatusOr<ipc::UniqueFd> OpenRegular(int dirfd, const std::string& rel, open_how* how,
                                          int max_retries) {
  absl::StatusOr<ipc::UniqueFd> fd = OpenRetrying(dirfd, rel, how, max_retries);
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
  if (fcntl(fd->get(), F_SETFL, static_cast<int>(how->flags & ~uint64_t{O_NONBLOCK})) != 0) {
    return absl::ErrnoToStatus(errno, "fcntl(F_SETFL)");
  }
  return std::move(*fd);
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

uint64_t PathResolver::Resolve() const {
  return kResolveBase | (options_.follow_symlinks ? 0 : RESOLVE_NO_SYMLINKS);
}

absl::StatusOr<ipc::UniqueFd> PathResolver::OpenDir(const std::vector<std::string>& dir) const {
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = Resolve();
  return OpenRetrying(dir_.get(), dir.empty() ? "." : absl::StrJoin(dir, "/"), &how,
                      options_.max_retries);
}

absl::StatusOr<PathResolver> PathResolver::OpenSubdir(const std::vector<std::string>& components,
                                                      const Options& options) const {
  absl::StatusOr<ipc::UniqueFd> fd = OpenDir(components);
  std::string host =
      components.empty() ? host_dir_ : absl::StrCat(host_dir_, "/", absl::StrJoin(components, "/"));
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
  if (!ipc::IsValidUtf8(path)) return absl::InvalidArgumentError("path is not valid UTF-8");
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
    return absl::InvalidArgumentError("truncate, append and create need mode WRITE or READ_WRITE");
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

const char* PathResolver::PendingOpen::EffectName() const {
  switch (effect) {
    case Effect::kCreate:
      return "create";
    case Effect::kTruncate:
      return "truncate";
    case Effect::kNone:
      break;
  }
  return "";
}

absl::StatusOr<PathResolver::PendingOpen> PathResolver::Prepare(
    const std::vector<std::string>& components, const OpenIntent& intent) const {
  if (components.empty()) {
    return absl::PermissionDeniedError("path names the granted directory itself, not a file");
  }
  absl::StatusOr<int> flags = FlagsFor(intent);
  if (!flags.ok()) return flags.status();
  PendingOpen pending;
  pending.flags = *flags;
  if (intent.create) {
    // Checks only: the directory resolves beneath the grant and the name is free. The create
    // itself walks the whole path again (Finish), because the directory checked here may be
    // renamed out of the grant before then.
    absl::StatusOr<ipc::UniqueFd> parent =
        OpenDir(std::vector<std::string>(components.begin(), components.end() - 1));
    if (!parent.ok()) return parent.status();
    struct stat st;
    if (fstatat(parent->get(), components.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      return absl::AlreadyExistsError("file exists (fs.create makes new files only)");
    }
    if (errno != ENOENT) return absl::ErrnoToStatus(errno, "fstatat");
    if (fstat(parent->get(), &st) != 0) return absl::ErrnoToStatus(errno, "fstat");
    pending.effect = PendingOpen::Effect::kCreate;
    pending.components = components;
    pending.dir_dev = st.st_dev;
    pending.dir_ino = st.st_ino;
    return pending;
  }
  open_how how{};
  // Without O_TRUNC: opening changes nothing; the truncation is Finish()'s.
  how.flags = (static_cast<uint64_t>(*flags) & ~uint64_t{O_TRUNC}) | O_NONBLOCK;
  if (!options_.follow_symlinks) how.flags |= O_NOFOLLOW;
  how.resolve = Resolve();
  absl::StatusOr<ipc::UniqueFd> fd =
      OpenRegular(dir_.get(), absl::StrJoin(components, "/"), &how, options_.max_retries);
  if (!fd.ok()) return fd.status();
  pending.fd = std::move(*fd);
  pending.effect = intent.truncate ? PendingOpen::Effect::kTruncate : PendingOpen::Effect::kNone;
  return pending;
}

absl::StatusOr<ipc::UniqueFd> PathResolver::Finish(PendingOpen pending, std::string* drift) const {
  if (drift != nullptr) drift->clear();
  switch (pending.effect) {
    case PendingOpen::Effect::kNone:
      return std::move(pending.fd);
    case PendingOpen::Effect::kTruncate:
      // The fd resolved beneath the grant when the request was decided: the file truncated is
      // the one decided on, wherever a rename has put its name since.
      if (ftruncate(pending.fd.get(), 0) != 0) {
        return absl::ErrnoToStatus(errno, "truncating the opened file");
      }
      return std::move(pending.fd);
    case PendingOpen::Effect::kCreate:
      break;
  }
  open_how how{};
  // From the grant's directory, never from the directory Prepare checked: the kernel enforces
  // containment for the whole walk at the moment of creation. O_EXCL never follows a symlink
  // in the final component; O_NOFOLLOW says so twice.
  how.flags = (static_cast<uint64_t>(pending.flags) & ~uint64_t{O_TRUNC}) | O_CREAT | O_EXCL |
              O_NOFOLLOW | O_NONBLOCK;
  how.mode = options_.create_mode;
  how.resolve = Resolve();
  absl::StatusOr<ipc::UniqueFd> fd =
      OpenRegular(dir_.get(), absl::StrJoin(pending.components, "/"), &how, options_.max_retries);
  // A file directly in the grant's directory has the directory fd itself as its parent, which
  // no rename replaces.
  if (!fd.ok() || drift == nullptr || pending.components.size() == 1) return fd;
  // Informational only (it races like any second look): which directory the name leads to now.
  std::vector<std::string> dir(pending.components.begin(), pending.components.end() - 1);
  absl::StatusOr<ipc::UniqueFd> now = OpenDir(dir);
  struct stat st;
  if (!now.ok() || fstat(now->get(), &st) != 0) {
    *drift = absl::StrCat("the directory '", absl::StrJoin(dir, "/"),
                          "' was renamed after the check; created beneath the grant, but its "
                          "directory could not be looked at again");
  } else if (st.st_dev != pending.dir_dev || st.st_ino != pending.dir_ino) {
    *drift = absl::StrCat("the directory '", absl::StrJoin(dir, "/"),
                          "' was replaced between the check and the create (inode ",
                          pending.dir_ino, " checked, ", st.st_ino,
                          " now); the file went into the one beneath the grant at the create");
  }
  return fd;
}

absl::StatusOr<ipc::UniqueFd> PathResolver::OpenBeneath(const std::vector<std::string>& components,
                                                        const OpenIntent& intent) const {
  absl::StatusOr<PendingOpen> pending = Prepare(components, intent);
  if (!pending.ok()) return pending.status();
  return Finish(std::move(*pending));
}

}  // namespace cordon::broker
