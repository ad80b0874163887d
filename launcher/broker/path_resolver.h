#ifndef CORDON_LAUNCHER_BROKER_PATH_RESOLVER_H_
#define CORDON_LAUNCHER_BROKER_PATH_RESOLVER_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ipc/unique_fd.h"

namespace cordon::broker {

// What a plugin asked to do with a file, before any check.
struct OpenIntent {
  bool read = false;
  bool write = false;
  bool create = false;    // a new file only (O_CREAT|O_EXCL); write or read-write mode
  bool truncate = false;  // write only
  bool append = false;    // write only
};

// Opens files beneath one granted host directory on a plugin's behalf. The directory is opened
// once (O_PATH) when the grant is made; every open is a single openat2(2) relative to it with
// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV (plus RESOLVE_NO_SYMLINKS unless
// the grant follows symlinks), so the kernel, not string handling, decides whether a path stays
// inside: "..", absolute symlinks, /proc magic links and mount crossings all fail, including
// when a racing rename swaps a directory for a symlink mid-walk (the kernel returns EAGAIN,
// retried a bounded number of times). Only regular files are ever returned: a directory fd
// would let the plugin openat() its way out, and a FIFO could block the broker.
class PathResolver {
 public:
  struct Options {
    bool follow_symlinks = false;
    mode_t create_mode = 0600;
    // openat2 returns EAGAIN when a rename raced the walk; give up (deny) after this many.
    int max_retries = 64;
  };

  // `host_dir` must be an absolute path to an existing directory.
  static absl::StatusOr<PathResolver> Open(const std::string& host_dir, const Options& options);
  // A subdirectory of an already opened grant, itself resolved beneath it (never by path
  // concatenation), e.g. for a manifest request of /data/out under a bound of /data.
  absl::StatusOr<PathResolver> OpenSubdir(const std::vector<std::string>& components,
                                          const Options& options) const;

  // Splits and checks an absolute plugin-visible path: at most PATH_MAX-1 bytes, no NUL, valid
  // UTF-8, no control characters, no ".." component (PermissionDenied), components of at most
  // NAME_MAX bytes. Empty and "." components are dropped, as the kernel would.
  static absl::StatusOr<std::vector<std::string>> SplitPluginPath(absl::string_view path);
  // open(2) flags for an intent: the allowlist. Always O_CLOEXEC | O_NOCTTY; never O_PATH,
  // O_DIRECTORY, O_TMPFILE or anything else a plugin did not need.
  static absl::StatusOr<int> FlagsFor(const OpenIntent& intent);

  // An open checked and resolved but with no effect on the filesystem yet, so that the
  // request's audit record can be written before anything changes (docs/broker.md): what is
  // left is the `effect`, done by Finish().
  struct PendingOpen {
    enum class Effect { kNone, kTruncate, kCreate };
    Effect effect = Effect::kNone;
    // kNone / kTruncate: the file, already open beneath the grant with the intent's flags minus
    // O_TRUNC. Finish() truncates this very fd; the path is never resolved again.
    ipc::UniqueFd fd;
    // kCreate: the path to create, relative to the grant, and the identity of the directory it
    // named when checked. Only the identity is kept, never an fd: a directory fd would be
    // writable into wherever the directory has been renamed to by the time of the create.
    std::vector<std::string> components;
    dev_t dir_dev = 0;
    ino_t dir_ino = 0;
    int flags = 0;  // FlagsFor(intent)
    // "create" / "truncate" / "" for the audit record.
    const char* EffectName() const;
  };

  // Everything short of the effect: checks the intent, resolves the path with openat2 beneath
  // the granted directory and, for a plain or truncating open, opens the file (without
  // O_TRUNC); for a create, checks that the directory resolves beneath the grant and that the
  // name is free, and changes nothing. Escapes are PermissionDenied; missing files NotFound;
  // an existing name with create AlreadyExists.
  absl::StatusOr<PendingOpen> Prepare(const std::vector<std::string>& components,
                                      const OpenIntent& intent) const;
  // The effect: truncates the open file, or creates the file with one openat2 of the whole
  // path from the grant's directory (O_CREAT|O_EXCL|O_NOFOLLOW, the same RESOLVE_* flags as
  // Prepare), so the kernel checks containment at the moment of creation, whatever was renamed
  // since Prepare. Returns the fd. For a create whose directory is no longer the one Prepare
  // checked (renamed or swapped in between), sets *drift, when given, to a description of it
  // (empty otherwise): the file is inside the grant, but not in the directory decided on.
  absl::StatusOr<ipc::UniqueFd> Finish(PendingOpen pending, std::string* drift = nullptr) const;
  // Prepare then Finish, for callers with nothing to record in between.
  absl::StatusOr<ipc::UniqueFd> OpenBeneath(const std::vector<std::string>& components,
                                            const OpenIntent& intent) const;

  const std::string& host_dir() const { return host_dir_; }
  const Options& options() const { return options_; }
  int dir_fd() const { return dir_.get(); }

 private:
  PathResolver(ipc::UniqueFd dir, std::string host_dir, Options options)
      : dir_(std::move(dir)), host_dir_(std::move(host_dir)), options_(options) {}

  // RESOLVE_* flags of every walk beneath the grant.
  uint64_t Resolve() const;
  // The directory `dir` (relative to the grant) as an O_PATH fd, resolved beneath the grant.
  absl::StatusOr<ipc::UniqueFd> OpenDir(const std::vector<std::string>& dir) const;

  ipc::UniqueFd dir_;
  std::string host_dir_;
  Options options_;
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_PATH_RESOLVER_H_
