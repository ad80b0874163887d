#ifndef CORDON_AUDIT_AUDIT_VERIFIER_H_
#define CORDON_AUDIT_AUDIT_VERIFIER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cordon::audit {

struct VerifyOptions {
  std::string hmac_key_file;  // must match the writer's; empty: plain SHA-256
  // Accept a chain that does not start at seq 1 (older files pruned on purpose). Without it a
  // missing head is reported as tampering.
  bool allow_missing_head = false;
  // An externally kept anchor (e.g. from an earlier verify): the log must reach this seq,
  // and, if given, that record must have this hash. Detects cutting whole records off the end.
  std::optional<uint64_t> expect_last_seq;
  std::string expect_last_hash;
};

struct VerifyResult {
  bool ok = false;
  uint64_t records = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;  // last good record
  std::string last_hash;
  uint64_t first_bad_seq = 0;      // when !ok: the first seq whose record is wrong or missing
  std::string problem;             // when !ok: what is wrong, with file and offset
  std::vector<std::string> notes;  // e.g. audit.recovered records seen
};

// Checks the hash chain over a log's files: every record's hash, seq continuity and prev
// links across rotations, a torn or truncated end. Stops at the first problem.
class AuditVerifier {
 public:
  // `files` in any order; they are sorted by first seq. I/O errors are a non-OK status;
  // a broken chain is an OK status with result.ok == false.
  static absl::StatusOr<VerifyResult> Verify(const std::vector<std::string>& files,
                                             const VerifyOptions& options);
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_AUDIT_VERIFIER_H_
