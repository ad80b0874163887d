#ifndef CORDON_SANDBOX_PROFILES_SECCOMP_COMPILER_H_
#define CORDON_SANDBOX_PROFILES_SECCOMP_COMPILER_H_

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cordon/v1/profile.pb.h"

namespace cordon::profiles {

struct SeccompProgram {
  // Classic BPF, ready for seccomp(SECCOMP_SET_MODE_FILTER) / PR_SET_SECCOMP.
  std::vector<sock_filter> instructions;
  // Every syscall the filter allows (some only with the argument rules), sorted.
  std::vector<std::string> allowed_syscalls;
  // libseccomp's part came from SeccompCompileOptions::cache instead of a fresh compile.
  bool from_cache = false;
};

class CompiledCache;

struct SeccompCompileOptions {
  // The launcher answers violations through a seccomp user-notification listener: every
  // violation (default action, argument-rule denial, foreign architecture) becomes
  // SECCOMP_RET_USER_NOTIF. Load the program with SECCOMP_FILTER_FLAG_NEW_LISTENER.
  bool user_notify = false;
  // Generate the allowlist with libseccomp (binary-tree optimisation on), the product's
  // named dependency and the default. false selects cordon's own binary-tree generator: both
  // give the same answer for every (nr, args) (seccomp_compiler_test proves it over every
  // syscall number); it exists because libseccomp's database build and code generation were
  // the largest user-space cost of a `cordon run` start-up (about 0.3 ms of CPU), and stays
  // opt-in until it has had the review libseccomp has.
  bool use_libseccomp = true;
  // Where libseccomp's output for an identical input may be found and is stored (nullptr:
  // always compile). Only the libseccomp path uses it; see CompiledCache for the key and the
  // trust rules.
  CompiledCache* cache = nullptr;
};

// Compiles a SeccompPolicy (groups, allow, deny, on_violation) into a classic BPF program for
// x86_64, plus the argument rules every policy gets (docs/profiles.md):
// clone without CLONE_NEW*, clone3 -> ENOSYS, socket/socketpair AF_UNIX only, ioctl without
// TIOCSTI/TIOCLINUX (low 32 bits), personality 0/0xffffffff, prctl from a safe option list.
// Foreign architectures and x32 syscall numbers never reach the allowlist.
class SeccompCompiler {
 public:
  static absl::StatusOr<SeccompProgram> Compile(const cordon::v1::SeccompPolicy& policy,
                                                const SeccompCompileOptions& options);

  // The SECCOMP_RET_* value a violation of `policy` gets under `options`.
  static uint32_t ViolationAction(const cordon::v1::SeccompPolicy& policy,
                                  const SeccompCompileOptions& options);

  // Human-readable lines describing the argument rules, for `cordon profile show` and docs.
  static std::vector<std::string> DescribeArgumentRules();

  // The prctl options a filter allows when prctl is allowed at all.
  static const std::vector<uint32_t>& SafePrctlOptions();

  // CLONE_NEW* flags a clone() call may not carry (low 32 bits of flags).
  static constexpr uint32_t kCloneNamespaceFlags = 0x7E020000;
};

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_SECCOMP_COMPILER_H_
