#include "audit/chain_hasher.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cordon::audit {

// OpenSSL 3 makes an implicit algorithm fetch on every EVP_sha256() init, which costs more
// than hashing a record; fetch once, and reset a keyed context instead of re-keying it.
struct ChainHasher::Impl {
  EVP_MD* md = nullptr;
  EVP_MD_CTX* md_ctx = nullptr;
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* mac_ctx = nullptr;  // keyed once; EVP_MAC_init(NULL key) restarts it
  ~Impl() {
    EVP_MD_CTX_free(md_ctx);
    EVP_MD_free(md);
    EVP_MAC_CTX_free(mac_ctx);
    EVP_MAC_free(mac);
  }
};

ChainHasher::~ChainHasher() = default;

absl::StatusOr<std::unique_ptr<ChainHasher>> ChainHasher::Create(const std::string& key_file) {
  if (key_file.empty()) {
    std::unique_ptr<ChainHasher> h(new ChainHasher());
    h->impl_ = std::make_unique<Impl>();
    h->impl_->md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    h->impl_->md_ctx = EVP_MD_CTX_new();
    if (h->impl_->md == nullptr || h->impl_->md_ctx == nullptr) {
      return absl::InternalError("OpenSSL SHA-256 is unavailable (EVP_MD_fetch failed)");
    }
    return h;
  }
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
  std::unique_ptr<ChainHasher> h(new ChainHasher());
  h->impl_ = std::make_unique<Impl>();
  h->keyed_ = true;
  h->impl_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (h->impl_->mac == nullptr) return absl::InternalError("EVP_MAC_fetch(HMAC) failed");
  h->impl_->mac_ctx = EVP_MAC_CTX_new(h->impl_->mac);
  if (h->impl_->mac_ctx == nullptr) return absl::InternalError("EVP_MAC_CTX_new failed");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(h->impl_->mac_ctx, reinterpret_cast<const unsigned char*>(key.data()),
                   key.size(), params) != 1) {
    return absl::InternalError("EVP_MAC_init(HMAC-SHA256) failed");
  }
  return h;
}

absl::Status ChainHasher::HashHex(std::string_view data, char out[kHexLength]) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (!keyed_) {
    unsigned int mdlen = 0;
    if (EVP_DigestInit_ex2(impl_->md_ctx, impl_->md, nullptr) != 1 ||
        EVP_DigestUpdate(impl_->md_ctx, data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(impl_->md_ctx, digest, &mdlen) != 1) {
      return absl::InternalError("SHA-256 digest failed");
    }
    len = mdlen;
  } else {
    EVP_MAC_CTX* ctx = impl_->mac_ctx;
    if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
        EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
            1 ||
        EVP_MAC_final(ctx, digest, &len, sizeof digest) != 1) {
      return absl::InternalError("HMAC-SHA256 failed");
    }
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
