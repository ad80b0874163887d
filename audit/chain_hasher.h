#ifndef CORDON_AUDIT_CHAIN_HASHER_H_
#define CORDON_AUDIT_CHAIN_HASHER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cordon::audit {

// Computes the chain hash of one record's canonical bytes: SHA-256, or HMAC-SHA256 when a
// key is configured (then nobody without the key can rewrite the chain after an edit).
// Not thread-safe: the writer holds its lock while hashing; readers own their instance.
class ChainHasher {
 public:
  static constexpr size_t kHexLength = 64;
  // prev of the very first record.
  static std::string GenesisHex() { return std::string(kHexLength, '0'); }

  // Empty key_file: plain SHA-256. Otherwise the file's whole content (at least 16 bytes,
  // trailing newline stripped) is the HMAC key.
  static absl::StatusOr<std::unique_ptr<ChainHasher>> Create(const std::string& key_file);
  static absl::StatusOr<std::unique_ptr<ChainHasher>> CreateWithKey(std::string_view key);

  ~ChainHasher();
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;

  bool keyed() const { return keyed_; }
  // Lower-case hex digest of `data`, written into `out` (64 chars).
  absl::Status HashHex(std::string_view data, char out[kHexLength]);

 private:
  ChainHasher() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool keyed_ = false;
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_CHAIN_HASHER_H_
