#ifndef CORDON_SANDBOX_PROFILES_BPF_EVALUATOR_H_
#define CORDON_SANDBOX_PROFILES_BPF_EVALUATOR_H_

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace cordon::profiles {

// Runs a classic seccomp BPF program over one crafted seccomp_data, as the kernel would, so
// tests can prove what a compiled filter answers without loading it. Rejects what the kernel's
// checker rejects (bad opcodes, out-of-range loads or jumps, falling off the end).
class BpfEvaluator {
 public:
  // Returns the program's SECCOMP_RET_* value (action | data).
  static absl::StatusOr<uint32_t> Evaluate(absl::Span<const sock_filter> program,
                                           const struct seccomp_data& data);
};

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_BPF_EVALUATOR_H_
