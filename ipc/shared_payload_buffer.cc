#include "ipc/shared_payload_buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ipc/memfd_payload.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {

static_assert(SharedPayloadBuffer::kRequiredSeals ==
              (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE));

SharedPayloadBuffer::SharedPayloadBuffer(SharedPayloadBuffer&& o) noexcept
    : fd_(std::move(o.fd_)),
      map_(std::exchange(o.map_, nullptr)),
      capacity_(std::exchange(o.capacity_, 0)),
      writable_(std::exchange(o.writable_, false)) {}

SharedPayloadBuffer& SharedPayloadBuffer::operator=(SharedPayloadBuffer&& o) noexcept {
  if (this != &o) {
    Unmap();
    fd_ = std::move(o.fd_);
    map_ = std::exchange(o.map_, nullptr);
    capacity_ = std::exchange(o.capacity_, 0);
    writable_ = std::exchange(o.writable_, false);
  }
  return *this;
}

SharedPayloadBuffer::~SharedPayloadBuffer() { Unmap(); }

void SharedPayloadBuffer::Unmap() {
  if (map_ != nullptr) ::munmap(map_, capacity_);
  map_ = nullptr;
}

absl::StatusOr<SharedPayloadBuffer> SharedPayloadBuffer::Create(absl::string_view name,
                                                                uint64_t capacity) {
  if (capacity == 0) return absl::InvalidArgumentError("shared payload buffer of 0 bytes");
  auto fd = MemfdPayload::CreateSized(name, capacity);
  if (!fd.ok()) return fd.status();
  SharedPayloadBuffer b;
  b.fd_ = std::move(*fd);
  const int raw = b.fd_.get();
  auto m = MemfdPayload::MapPopulated(raw, capacity, /*writable=*/true);
  if (!m.ok()) return m.status();
  b.map_ = *m;
  b.capacity_ = capacity;
  b.writable_ = true;
  // After this only the mapping above can write; new writable mappings, write() and hole
  // punching fail for everyone, the owner included.
  if (::fcntl(raw, F_ADD_SEALS, static_cast<int>(kRequiredSeals)) != 0) {
    return absl::ErrnoToStatus(errno, "seal shared payload buffer (F_SEAL_FUTURE_WRITE)");
  }
  return b;
}

absl::StatusOr<SharedPayloadBuffer> SharedPayloadBuffer::OpenReadOnly(UniqueFd fd,
                                                                      uint64_t max_capacity) {
  int seals = ::fcntl(fd.get(), F_GET_SEALS);
  if (seals < 0 || (static_cast<unsigned>(seals) & kRequiredSeals) != kRequiredSeals) {
    return ViolationStatus(
        ViolationKind::kBadPayload,
        absl::StrCat("shared payload buffer lacks future-write|grow|shrink|seal seals (seals 0x",
                     absl::Hex(seals), ")"));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return absl::ErrnoToStatus(errno, "fstat shared buffer");
  uint64_t capacity = static_cast<uint64_t>(st.st_size);
  if (capacity == 0 || capacity > max_capacity) {
    return ViolationStatus(ViolationKind::kBadPayload,
                           absl::StrCat("shared payload buffer of ", capacity,
                                        " bytes is empty or over the cap of ", max_capacity));
  }
  auto m = MemfdPayload::MapPopulated(fd.get(), capacity, /*writable=*/false);
  if (!m.ok()) return m.status();
  SharedPayloadBuffer b;
  b.fd_ = std::move(fd);
  b.map_ = *m;
  b.capacity_ = capacity;
  return b;
}

absl::StatusOr<UniqueFd> SharedPayloadBuffer::PeerFd() const {
  if (!fd_.valid()) return absl::FailedPreconditionError("shared payload buffer is empty");
  return MemfdPayload::Reopen(fd_.get(), O_RDONLY);
}

absl::Span<char> SharedPayloadBuffer::mutable_data() {
  if (!writable_ || map_ == nullptr) return {};
  return absl::Span<char>(static_cast<char*>(map_), capacity_);
}

absl::Status SharedPayloadBuffer::CheckRange(uint64_t offset, uint64_t length, uint64_t capacity) {
  if (offset > capacity || length > capacity - offset) {
    return ViolationStatus(ViolationKind::kBadPayload,
                           absl::StrCat("shared payload range [", offset, ", +", length,
                                        ") is outside the buffer of ", capacity, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::string_view> SharedPayloadBuffer::View(uint64_t offset,
                                                            uint64_t length) const {
  if (absl::Status s = CheckRange(offset, length, capacity_); !s.ok()) return s;
  return absl::string_view(static_cast<const char*>(map_) + offset, length);
}

}  // namespace cordon::ipc
