#include "sdk/cpp/output.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace cordon::sdk {

Output::Output(Output&& o) noexcept
    : call_live_(std::move(o.call_live_)),
      shared_(std::exchange(o.shared_, {})),
      memfd_(std::move(o.memfd_)),
      size_(std::exchange(o.size_, 0)) {
  o.memfd_.reset();  // a moved-from optional stays engaged
}

Output& Output::operator=(Output&& o) noexcept {
  if (this != &o) {
    call_live_ = std::move(o.call_live_);
    shared_ = std::exchange(o.shared_, {});
    memfd_ = std::move(o.memfd_);
    o.memfd_.reset();
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

Output Output::Shared(absl::Span<char> bytes, std::shared_ptr<const bool> call_live) {
  Output out;
  out.call_live_ = std::move(call_live);
  out.shared_ = bytes;
  out.size_ = bytes.size();
  return out;
}

Output Output::Memfd(ipc::MemfdPayload memfd) {
  Output out;
  out.size_ = memfd.size();
  out.memfd_.emplace(std::move(memfd));
  return out;
}

absl::Span<char> Output::data() {
  if (is_shared()) return call_ended() ? absl::Span<char>() : shared_.subspan(0, size_);
  if (memfd_.has_value()) return memfd_->mutable_data().subspan(0, size_);
  return {};
}

absl::Status Output::Truncate(size_t size) {
  if (size > size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("Truncate(", size, ") of an output of ", size_, " bytes"));
  }
  size_ = size;
  return absl::OkStatus();
}

absl::StatusOr<ipc::Payload> Output::Finish() && {
  if (is_shared()) {
    if (call_ended()) {
      return absl::FailedPreconditionError(
          "Finish() of a shared output after its call ended; return it from the handler that "
          "acquired it");
    }
    return ipc::Payload::Borrowed(absl::string_view(shared_.data(), size_));
  }
  if (!memfd_.has_value()) return absl::FailedPreconditionError("Finish() of an empty output");
  if (absl::Status s = memfd_->Shrink(size_); !s.ok()) return s;
  if (auto sealed = memfd_->Seal(); !sealed.ok()) return sealed.status();
  auto payload = ipc::Payload::FromSealedMemfd(std::move(*memfd_));
  memfd_.reset();
  return payload;
}

}  // namespace cordon::sdk
