#include "launcher/serve/peer_credentials.h"

#include <errno.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cordon::serve {
namespace {

// More supplementary groups than Linux's NGROUPS_MAX is impossible; the cap bounds the buffer.
constexpr size_t kMaxGroups = 65536;

}  // namespace

absl::StatusOr<PeerCredentials> PeerCredentials::Of(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::InternalError(
        absl::StrCat("getsockopt(SO_PEERCRED) on the control connection: ", strerror(errno)));
  }
  PeerCredentials out;
  out.pid = cred.pid;
  out.uid = cred.uid;
  out.gid = cred.gid;
  // SO_PEERGROUPS reports the required size with ERANGE; ask twice at most.
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      out.groups = std::move(groups);
      break;
    }
    if (errno != ERANGE || glen / sizeof(gid_t) > kMaxGroups) break;
    groups.resize(glen / sizeof(gid_t));
  }
  return out;
}

std::string PeerCredentials::ToString() const {
  return absl::StrCat("pid ", pid, " uid ", uid, " gid ", gid, " groups [",
                      absl::StrJoin(groups, ","), "]");
}

}  // namespace cordon::serve
