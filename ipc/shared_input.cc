#include "ipc/shared_input.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace cordon::ipc {

SharedInput::SharedInput(SharedInput&& o) noexcept
    : pool_(std::move(o.pool_)),
      lease_(std::exchange(o.lease_, {})),
      memfd_(std::move(o.memfd_)),
      size_(std::exchange(o.size_, 0)) {
  o.memfd_.reset();  // a moved-from optional stays engaged
}

SharedInput& SharedInput::operator=(SharedInput&& o) noexcept {
  if (this != &o) {
    Release(/*reusable=*/true);
    pool_ = std::move(o.pool_);  // leaves o.pool_ null
    lease_ = std::exchange(o.lease_, {});
    memfd_ = std::move(o.memfd_);
    o.memfd_.reset();
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

// Never sent (or already released by the call): the plugin never saw it, so it is reusable.
SharedInput::~SharedInput() { Release(/*reusable=*/true); }

SharedInput SharedInput::FromLease(std::shared_ptr<SharedInputPool> pool,
                                   SharedInputPool::Lease lease, size_t size) {
  SharedInput in;
  in.pool_ = std::move(pool);
  in.lease_ = lease;
  in.size_ = size;
  return in;
}

SharedInput SharedInput::FromMemfd(MemfdPayload memfd) {
  SharedInput in;
  in.size_ = memfd.size();
  in.memfd_.emplace(std::move(memfd));
  return in;
}

void SharedInput::Release(bool reusable) {
  if (pool_ != nullptr) pool_->Release(lease_.buffer_id, reusable);
  pool_.reset();
  lease_ = {};
}

absl::Span<char> SharedInput::data() {
  if (pool_ != nullptr) return lease_.data.subspan(0, size_);
  if (memfd_.has_value()) return memfd_->mutable_data().subspan(0, size_);
  return {};
}

absl::Status SharedInput::Truncate(size_t size) {
  if (size > size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("Truncate(", size, ") of a shared input of ", size_, " bytes"));
  }
  size_ = size;
  return absl::OkStatus();
}

}  // namespace cordon::ipc
