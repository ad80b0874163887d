#ifndef CORDON_LAUNCHER_SERVE_PEER_CREDENTIALS_H_
#define CORDON_LAUNCHER_SERVE_PEER_CREDENTIALS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cordon::serve {

// Who is on the other end of a connected unix socket, as the kernel recorded it at connect()
// time (SO_PEERCRED, SO_PEERGROUPS): the client cannot forge it by what it sends.
struct PeerCredentials {
  pid_t pid = -1;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;  // supplementary groups; empty when the kernel cannot tell

  // Reads the credentials of the peer of the connected socket fd.
  static absl::StatusOr<PeerCredentials> Of(int fd);
  std::string ToString() const;
};

}  // namespace cordon::serve

#endif  // CORDON_LAUNCHER_SERVE_PEER_CREDENTIALS_H_
