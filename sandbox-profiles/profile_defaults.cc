#include "sandbox-profiles/profile_defaults.h"

namespace cordon::profiles {

cordon::v1::Profile ProfileDefaults::Apply(cordon::v1::Profile profile) {
  if (profile.hostname().empty()) profile.set_hostname(std::string(kHostname));
  if (profile.workdir().empty()) profile.set_workdir(std::string(kWorkdir));
  cordon::v1::UserMapping* user = profile.mutable_user();
  // proto3 cannot tell 0 from unset; host id 0 (root) is never a valid mapping anyway.
  if (user->host_uid() == 0) user->set_host_uid(kHostId);
  if (user->host_gid() == 0) user->set_host_gid(kHostId);
  if (user->sandbox_uid() == 0) user->set_sandbox_uid(kSandboxId);
  if (user->sandbox_gid() == 0) user->set_sandbox_gid(kSandboxId);
  for (cordon::v1::Mount& mount : *profile.mutable_mounts()) {
    if (mount.destination().empty() && mount.type() != cordon::v1::Mount::TMPFS) {
      mount.set_destination(mount.source());
    }
  }
  cordon::v1::SeccompPolicy* seccomp = profile.mutable_seccomp();
  if (seccomp->on_violation() == cordon::v1::SeccompPolicy::VIOLATION_ACTION_UNSPECIFIED) {
    seccomp->set_on_violation(cordon::v1::SeccompPolicy::ERRNO_EPERM);
  }
  profile.mutable_limits();  // present in the effective profile even when all zero
  return profile;
}

}  // namespace cordon::profiles
