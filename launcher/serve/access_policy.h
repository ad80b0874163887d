#ifndef CORDON_LAUNCHER_SERVE_ACCESS_POLICY_H_
#define CORDON_LAUNCHER_SERVE_ACCESS_POLICY_H_

#include <sys/types.h>

#include <set>
#include <string>

#include "launcher/serve/peer_credentials.h"

namespace cordon::serve {

// Which peers may use the control socket: a peer is admitted when its uid is listed, or its
// primary or a supplementary gid is listed. With nothing configured only the daemon's own
// effective uid is admitted, so a default daemon is never open to other users.
class AccessPolicy {
 public:
  AccessPolicy(std::set<uid_t> uids, std::set<gid_t> gids);
  bool Admits(const PeerCredentials& peer) const;
  std::string Describe() const;

 private:
  std::set<uid_t> uids_;
  std::set<gid_t> gids_;
};

}  // namespace cordon::serve

#endif  // CORDON_LAUNCHER_SERVE_ACCESS_POLICY_H_
