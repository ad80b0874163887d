#include "sandbox-profiles/profile_defaults.h"

#include "gtest/gtest.h"

namespace cordon::profiles {
namespace {

TEST(ProfileDefaultsTest, FillsEveryDefault) {
  cordon::v1::Profile p;
  p.add_mounts()->set_type(cordon::v1::Mount::BIND_RO);
  p.mutable_mounts(0)->set_source("/usr");
  cordon::v1::Profile e = ProfileDefaults::Apply(p);
  EXPECT_EQ(e.hostname(), "cordon");
  EXPECT_EQ(e.workdir(), "/");
  EXPECT_EQ(e.user().host_uid(), 65534u);
  EXPECT_EQ(e.user().host_gid(), 65534u);
  EXPECT_EQ(e.user().sandbox_uid(), 1000u);
  EXPECT_EQ(e.user().sandbox_gid(), 1000u);
  EXPECT_EQ(e.mounts(0).destination(), "/usr");
  EXPECT_EQ(e.seccomp().on_violation(), cordon::v1::SeccompPolicy::ERRNO_EPERM);
  EXPECT_TRUE(e.has_limits());
}

TEST(ProfileDefaultsTest, KeepsWhatIsSet) {
  cordon::v1::Profile p;
  p.set_hostname("h");
  p.set_workdir("/tmp");
  p.mutable_user()->set_host_uid(1234);
  p.mutable_user()->set_sandbox_gid(7);
  auto* m = p.add_mounts();
  m->set_type(cordon::v1::Mount::BIND_RW);
  m->set_source("/a");
  m->set_destination("/b");
  p.mutable_seccomp()->set_on_violation(cordon::v1::SeccompPolicy::KILL);
  cordon::v1::Profile e = ProfileDefaults::Apply(p);
  EXPECT_EQ(e.hostname(), "h");
  EXPECT_EQ(e.workdir(), "/tmp");
  EXPECT_EQ(e.user().host_uid(), 1234u);
  EXPECT_EQ(e.user().sandbox_gid(), 7u);
  EXPECT_EQ(e.mounts(0).destination(), "/b");
  EXPECT_EQ(e.seccomp().on_violation(), cordon::v1::SeccompPolicy::KILL);
}

}  // namespace
}  // namespace cordon::profiles
