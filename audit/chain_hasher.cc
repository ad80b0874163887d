#include "audit/chain_hasher.h"

// libcrypto's SHA-256 primitive (SHA256_Init/Update/Final), not the EVP interface: EVP's first
// use initialises OpenSSL 3's provider machinery, and linking it statically pulls in every
// algorithm's tables. Measured on the development VM (docs/performance-sandbox.md): EVP costs
// each cordon process about 85 page faults for relocations whether or not it hashes anything,
// and about 3 ms of CPU at the first record; the primitive costs neither. OpenSSL 3 marks these
// functions deprecated in favour of EVP, but they are the same assembly-optimised
// implementation EVP's default provider calls.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cordon::audit {

// HMAC-SHA256 (RFC 2104, FIPS 198-1) over the SHA-256 primitive: the key is padded (or first
// hashed, when longer than a block) to one 64-byte block K0; HMAC = H((K0 ^ opad) ||
// H((K0 ^ ipad) || data)). The two keyed contexts are hashed once, at creation, and copied
// for every record, so a record costs the same as with EVP's keyed context.
struct ChainHasher::Impl {
  SHA256_CTX inner_keyed;  // after absorbing K0 ^ ipad
  SHA256_CTX outer_keyed;  // after absorbing K0 ^ opad
  ~Impl() {
    OPENSSL_cleanse(&inner_keyed, sizeof inner_keyed);
    OPENSSL_cleanse(&outer_keyed, sizeof outer_keyed);
  }
};

ChainHasher::~ChainHasher() = default;

absl::StatusOr<std::unique_ptr<ChainHasher>> ChainHasher::Create(const std::string& key_file) {
  if (key_file.empty()) return std::unique_ptr<ChainHasher>(new ChainHasher());
  const int fd = open(key_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit HMAC key file ", key_file, ": open: ", strerror(errno)));
  }
  std::string key;
  char buf[512];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat("audit HMAC key file ", key_file, ": read: ", strerror(e)));
    }
    if (n == 0) break;
    key.append(buf, n);
    if (key.size() > 4096) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat("audit HMAC key file ", key_file, " is larger than 4096 bytes"));
    }
  }
  close(fd);
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (key.size() < 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit HMAC key file ", key_file, " holds ", key.size(),
                     " bytes; use at least 16 random bytes (e.g. head -c 32 /dev/urandom | "
                     "base64 > FILE)"));
  }
  return CreateWithKey(key);
}

absl::StatusOr<std::unique_ptr<ChainHasher>> ChainHasher::CreateWithKey(std::string_view key) {
  constexpr size_t kBlock = SHA256_CBLOCK;  // 64
  std::array<unsigned char, kBlock> k0{};
  if (key.size() > kBlock) {
    SHA256_CTX ctx;
    if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, key.data(), key.size()) != 1 ||
        SHA256_Final(k0.data(), &ctx) != 1) {
      return absl::InternalError("HMAC-SHA256 key hashing failed");
    }
    OPENSSL_cleanse(&ctx, sizeof ctx);
  } else {
    std::memcpy(k0.data(), key.data(), key.size());
  }
  std::array<unsigned char, kBlock> inner_pad, outer_pad;
  for (size_t i = 0; i < kBlock; ++i) {
    inner_pad[i] = k0[i] ^ 0x36;
    outer_pad[i] = k0[i] ^ 0x5c;
  }
  std::unique_ptr<ChainHasher> h(new ChainHasher());
  h->impl_ = std::make_unique<Impl>();
  h->keyed_ = true;
  const bool ok = SHA256_Init(&h->impl_->inner_keyed) == 1 &&
                  SHA256_Update(&h->impl_->inner_keyed, inner_pad.data(), kBlock) == 1 &&
                  SHA256_Init(&h->impl_->outer_keyed) == 1 &&
                  SHA256_Update(&h->impl_->outer_keyed, outer_pad.data(), kBlock) == 1;
  OPENSSL_cleanse(k0.data(), k0.size());
  OPENSSL_cleanse(inner_pad.data(), inner_pad.size());
  OPENSSL_cleanse(outer_pad.data(), outer_pad.size());
  if (!ok) return absl::InternalError("HMAC-SHA256 key setup failed");
  return h;
}

absl::Status ChainHasher::HashHex(std::string_view data, char out[kHexLength]) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  const size_t len = sizeof digest;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  SHA256_CTX ctx;
  if (!keyed_) {
    if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, bytes, data.size()) != 1 ||
        SHA256_Final(digest, &ctx) != 1) {
      return absl::InternalError("SHA-256 digest failed");
    }
  } else {
    unsigned char inner[SHA256_DIGEST_LENGTH];
    ctx = impl_->inner_keyed;
    bool ok = SHA256_Update(&ctx, bytes, data.size()) == 1 && SHA256_Final(inner, &ctx) == 1;
    ctx = impl_->outer_keyed;
    ok = ok && SHA256_Update(&ctx, inner, sizeof inner) == 1 && SHA256_Final(digest, &ctx) == 1;
    OPENSSL_cleanse(&ctx, sizeof ctx);
    if (!ok) return absl::InternalError("HMAC-SHA256 failed");
  }
  if (len * 2 != kHexLength) return absl::InternalError("unexpected digest length");
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return absl::OkStatus();
}

}  // namespace cordon::audit
