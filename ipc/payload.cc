#include "ipc/payload.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {

absl::StatusOr<Payload> Payload::FromSealedMemfd(MemfdPayload memfd) {
  if (!memfd.sealed()) {
    return absl::FailedPreconditionError("memfd payload must be sealed before it is sent");
  }
  Payload p;
  p.memfd_.emplace(std::move(memfd));
  return p;
}

Payload Payload::Borrowed(absl::string_view bytes) {
  Payload p;
  p.borrowed_ = bytes;
  return p;
}

Payload Payload::Owned(absl::string_view bytes, std::shared_ptr<const void> owner) {
  Payload p;
  p.borrowed_ = bytes;
  p.owner_ = std::move(owner);
  return p;
}

absl::string_view Payload::data() const {
  if (memfd_.has_value()) return memfd_->data();
  if (borrowed_.has_value()) return *borrowed_;
  return inline_;
}

absl::Status Payload::ToProto(size_t inline_threshold, cordon::v1::Payload* out,
                              std::vector<UniqueFd>* fds, MemfdPool* pool) const {
  const absl::string_view bytes = data();
  if (!memfd_.has_value() && bytes.size() <= inline_threshold) {
    out->set_inline_(std::string(bytes));
    return absl::OkStatus();
  }
  UniqueFd fd;
  uint64_t size;
  if (memfd_.has_value()) {
    int dup = ::fcntl(memfd_->fd(), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return absl::ErrnoToStatus(errno, "dup payload memfd");
    fd.reset(dup);
    size = memfd_->size();
  } else if (pool != nullptr) {
    auto slot = pool->Acquire(bytes.size());
    if (!slot.ok()) return slot.status();
    std::memcpy(slot->mutable_data().data(), bytes.data(), bytes.size());
    auto sealed = slot->Seal();
    if (!sealed.ok()) return sealed.status();
    fd = std::move(*sealed);
    size = bytes.size();
  } else {
    auto sealed = MemfdPayload::CreateSealed("cordon-payload", bytes);
    if (!sealed.ok()) return sealed.status();
    fd = std::move(*sealed);
    size = bytes.size();
  }
  out->mutable_memfd()->set_fd_index(static_cast<uint32_t>(fds->size()));
  out->mutable_memfd()->set_size(size);
  fds->push_back(std::move(fd));
  return absl::OkStatus();
}

absl::StatusOr<Payload> Payload::FromProto(const cordon::v1::Payload& proto,
                                           std::vector<UniqueFd>* fds, uint64_t max_bytes,
                                           MemfdPremapCache* premapped) {
  switch (proto.data_case()) {
    case cordon::v1::Payload::kInline:
      if (proto.inline_().size() > max_bytes) {
        return ViolationStatus(ViolationKind::kBadPayload,
                               absl::StrCat("inline payload of ", proto.inline_().size(),
                                            " bytes exceeds the cap of ", max_bytes));
      }
      return Payload(proto.inline_());
    case cordon::v1::Payload::kMemfd: {
      uint32_t index = proto.memfd().fd_index();
      if (index >= fds->size() || !(*fds)[index].valid()) {
        return ViolationStatus(ViolationKind::kBadPayload,
                               absl::StrCat("payload refers to fd index ", index, " but the ",
                                            "message carries ", fds->size(), " unused fds"));
      }
      UniqueFd fd = std::move((*fds)[index]);
      auto mapped = premapped != nullptr
                        ? premapped->Open(std::move(fd), proto.memfd().size(), max_bytes)
                        : MemfdPayload::OpenSealed(std::move(fd), proto.memfd().size(), max_bytes);
      if (!mapped.ok()) return mapped.status();
      Payload p;
      p.memfd_.emplace(std::move(*mapped));
      return p;
    }
    case cordon::v1::Payload::kShared:
      return ViolationStatus(ViolationKind::kBadPayload,
                             "shared-buffer payload reference where only inline or memfd "
                             "payloads are allowed (shared buffers carry host call inputs and "
                             "results in a buffer the host lent to that call)");
    case cordon::v1::Payload::DATA_NOT_SET:
      return Payload();
  }
  return ViolationStatus(ViolationKind::kBadPayload, "payload of unknown kind");
}

}  // namespace cordon::ipc
