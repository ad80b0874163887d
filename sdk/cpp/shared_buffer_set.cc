#include "sdk/cpp/shared_buffer_set.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ipc/memfd_payload.h"
#include "ipc/protocol_violation.h"

namespace cordon::sdk {
namespace {

// The host is trusted, but a confused one must not make the plugin hold fds without bound: an
// announcement over the caps, of an id already taken or without its fd is refused.
absl::StatusOr<ipc::UniqueFd> TakeAnnouncedFd(uint64_t id, uint32_t fd_index, size_t held,
                                              uint32_t cap, bool known,
                                              std::vector<ipc::UniqueFd>* fds) {
  if (cap == 0) return absl::FailedPreconditionError("this plugin did not offer them");
  if (held >= cap) {
    return absl::ResourceExhaustedError(absl::StrCat("already ", held, " (the cap offered)"));
  }
  if (known) return absl::AlreadyExistsError(absl::StrCat("buffer id ", id, " announced twice"));
  if (fd_index >= fds->size() || !(*fds)[fd_index].valid()) {
    return absl::InvalidArgumentError("announcement without its fd");
  }
  return std::move((*fds)[fd_index]);
}

}  // namespace

void SharedBufferSet::OfferIn(cordon::v1::Hello* hello) const {
  if (caps_.max_input_buffers > 0 && caps_.max_input_buffer_bytes > 0) {
    hello->mutable_shared_input()->set_max_buffers(caps_.max_input_buffers);
    hello->mutable_shared_input()->set_max_buffer_bytes(caps_.max_input_buffer_bytes);
  }
  if (caps_.max_result_buffers > 0 && caps_.max_result_buffer_bytes > 0) {
    hello->mutable_shared_result()->set_max_buffers(caps_.max_result_buffers);
    hello->mutable_shared_result()->set_max_buffer_bytes(caps_.max_result_buffer_bytes);
  }
}

absl::Status SharedBufferSet::AcceptInput(const cordon::v1::SharedBufferAnnounce& announce,
                                          std::vector<ipc::UniqueFd>* fds) {
  auto fd = TakeAnnouncedFd(announce.buffer_id(), announce.fd_index(), inputs_.size(),
                            caps_.max_input_buffer_bytes > 0 ? caps_.max_input_buffers : 0,
                            inputs_.count(announce.buffer_id()) != 0, fds);
  if (!fd.ok()) return fd.status();
  auto buffer =
      ipc::SharedPayloadBuffer::OpenReadOnly(std::move(*fd), caps_.max_input_buffer_bytes);
  if (!buffer.ok()) return buffer.status();
  inputs_.emplace(announce.buffer_id(), std::move(*buffer));
  return absl::OkStatus();
}

absl::Status SharedBufferSet::AcceptResult(const cordon::v1::ResultBufferAnnounce& announce,
                                           std::vector<ipc::UniqueFd>* fds) {
  auto fd = TakeAnnouncedFd(announce.buffer_id(), announce.fd_index(), results_.size(),
                            caps_.max_result_buffer_bytes > 0 ? caps_.max_result_buffers : 0,
                            results_.count(announce.buffer_id()) != 0, fds);
  if (!fd.ok()) return fd.status();
  auto buffer =
      ipc::SharedResultBuffer::OpenWritable(std::move(*fd), caps_.max_result_buffer_bytes);
  if (!buffer.ok()) return buffer.status();
  results_.emplace(announce.buffer_id(), std::move(*buffer));
  return absl::OkStatus();
}

absl::StatusOr<ipc::Payload> SharedBufferSet::ResolveInput(const cordon::v1::SharedRef& ref) const {
  auto it = inputs_.find(ref.buffer_id());
  if (it == inputs_.end()) {
    return ipc::ViolationStatus(ipc::ViolationKind::kBadPayload,
                                absl::StrCat("call input names shared buffer ", ref.buffer_id(),
                                             " which was never announced (or was refused)"));
  }
  // View() checks offset + length against the mapping without overflowing.
  auto view = it->second.View(ref.offset(), ref.length());
  if (!view.ok()) return view.status();
  return ipc::Payload::Borrowed(*view);
}

void SharedBufferSet::BeginCall(uint64_t result_buffer_id) {
  lent_ = result_buffer_id;
  output_taken_ = false;
  call_live_ = std::make_shared<bool>(true);
}

void SharedBufferSet::EndCall() {
  if (call_live_ != nullptr) *call_live_ = false;  // outputs of this call stop being writable
  call_live_.reset();
  lent_ = 0;
  output_taken_ = false;
}

absl::StatusOr<Output> SharedBufferSet::AcquireOutput(size_t size) {
  if (call_live_ == nullptr) {
    return absl::FailedPreconditionError("AcquireOutput() outside a handler");
  }
  if (size == 0) {
    return absl::InvalidArgumentError("AcquireOutput(0); return an empty Payload instead");
  }
  auto it = lent_ != 0 && !output_taken_ ? results_.find(lent_) : results_.end();
  if (it != results_.end() && size <= it->second.capacity()) {
    // A mapping failure (e.g. an address-space limit) falls back to a memfd below.
    if (auto span = it->second.Writable(); span.ok()) {
      output_taken_ = true;
      return Output::Shared(span->subspan(0, size), call_live_);
    }
  }
  auto memfd = ipc::MemfdPayload::CreateWritable("cordon-result", size);
  if (!memfd.ok()) return memfd.status();
  return Output::Memfd(std::move(*memfd));
}

bool SharedBufferSet::ToSharedRef(const ipc::Payload& result, cordon::v1::Payload* out) {
  if (!output_taken_ || !result.is_borrowed()) return false;
  auto it = results_.find(lent_);
  if (it == results_.end()) return false;
  auto span = it->second.Writable();  // already mapped by the output
  if (!span.ok()) return false;
  const auto base = reinterpret_cast<uintptr_t>(span->data());
  const auto at = reinterpret_cast<uintptr_t>(result.data().data());
  if (at < base || at - base > span->size() || result.size() > span->size() - (at - base)) {
    return false;  // bytes elsewhere: copied like any borrowed view
  }
  auto* ref = out->mutable_shared();
  ref->set_buffer_id(lent_);
  ref->set_offset(at - base);
  ref->set_length(result.size());
  return true;
}

}  // namespace cordon::sdk
