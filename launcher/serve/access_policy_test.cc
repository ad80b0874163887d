#include "launcher/serve/access_policy.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace cordon::serve {
namespace {

PeerCredentials Peer(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  PeerCredentials p;
  p.pid = 1;
  p.uid = uid;
  p.gid = gid;
  p.groups = std::move(groups);
  return p;
}

TEST(AccessPolicyTest, EmptyPolicyAdmitsOnlyOwnEffectiveUid) {
  AccessPolicy policy({}, {});
  EXPECT_TRUE(policy.Admits(Peer(geteuid(), 12345)));
  EXPECT_FALSE(policy.Admits(Peer(geteuid() + 1, getegid())));
}

TEST(AccessPolicyTest, ListedUidIsAdmittedOthersAreNot) {
  AccessPolicy policy({1000}, {});
  EXPECT_TRUE(policy.Admits(Peer(1000, 1000)));
  EXPECT_FALSE(policy.Admits(Peer(1001, 1000)));
  EXPECT_FALSE(policy.Admits(Peer(geteuid(), getegid()))) << "own uid is implicit only when empty";
}

TEST(AccessPolicyTest, PrimaryOrSupplementaryGidAdmits) {
  AccessPolicy policy({}, {500});
  EXPECT_TRUE(policy.Admits(Peer(1000, 500)));
  EXPECT_TRUE(policy.Admits(Peer(1000, 1000, {20, 500})));
  EXPECT_FALSE(policy.Admits(Peer(1000, 1000, {20, 501})));
}

}  // namespace
}  // namespace cordon::serve
