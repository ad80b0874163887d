#include "launcher/serve/access_policy.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cordon::serve {

AccessPolicy::AccessPolicy(std::set<uid_t> uids, std::set<gid_t> gids)
    : uids_(std::move(uids)), gids_(std::move(gids)) {
  if (uids_.empty() && gids_.empty()) uids_.insert(geteuid());
}

bool AccessPolicy::Admits(const PeerCredentials& peer) const {
  if (uids_.count(peer.uid) != 0) return true;
  if (gids_.count(peer.gid) != 0) return true;
  for (gid_t g : peer.groups) {
    if (gids_.count(g) != 0) return true;
  }
  return false;
}

std::string AccessPolicy::Describe() const {
  return absl::StrCat("uids [", absl::StrJoin(uids_, ","), "] gids [", absl::StrJoin(gids_, ","),
                      "]");
}

}  // namespace cordon::serve
