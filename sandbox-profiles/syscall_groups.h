#ifndef CORDON_SANDBOX_PROFILES_SYSCALL_GROUPS_H_
#define CORDON_SANDBOX_PROFILES_SYSCALL_GROUPS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cordon/v1/profile.pb.h"

namespace cordon::profiles {

// The named syscall groups a profile's seccomp policy is built from, and the syscalls no group
// may ever contain. docs/profiles.md documents every group; keep the two in step.
class SyscallGroups {
 public:
  struct Group {
    std::string_view name;
    std::string_view description;
    std::vector<std::string_view> syscalls;
  };

  // One allowed syscall with the group (or "allow"/"danger_allow") that first brought it in.
  struct Entry {
    std::string name;
    std::string origin;
  };

  // Every group, in documentation order.
  static const std::vector<Group>& All();
  // The group called `name`, or NotFound listing the known groups.
  static absl::StatusOr<const Group*> Lookup(std::string_view name);
  static std::vector<std::string> Names();

  // Syscalls that `allow` may not name and no group contains (see docs/profiles.md).
  static absl::Span<const std::string_view> NeverAllowed();
  static bool IsNeverAllowed(std::string_view syscall);

  // The x86_64 number of `syscall`, or nullopt when the name is unknown on x86_64.
  static std::optional<int> Number(std::string_view syscall);

  // The name of syscall `nr` as the kernel reported it in seccomp_data (`audit_arch` is
  // seccomp_data.arch: x86_64 incl. x32 numbers, or i386), for audit records; "nr:<n>" when
  // unknown.
  static std::string NameForNumber(uint32_t audit_arch, int nr);

  // groups ∪ allow ∪ danger_allow, minus deny, sorted by name. Fails on unknown group or
  // syscall names and on a never-allowed syscall named outside danger_allow.
  static absl::StatusOr<std::vector<Entry>> Resolve(const cordon::v1::SeccompPolicy& policy);
};

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_SYSCALL_GROUPS_H_
