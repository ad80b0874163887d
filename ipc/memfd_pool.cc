#include "ipc/memfd_pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cordon::ipc {

absl::StatusOr<MemfdPayload> MemfdPool::Acquire(uint64_t size) {
  if (size < options_.min_bytes) return MemfdPayload::CreateWritable(options_.name, size);
  if (size <= options_.slot_bytes && !ready_.empty()) {
    MemfdPayload slot = std::move(ready_.front());
    ready_.pop_front();
    if (absl::Status s = slot.Shrink(size); !s.ok()) return s;
    ++hits_;
    return slot;
  }
  ++misses_;
  if (!options_.fresh_when_empty) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "memfd pool '", options_.name, "' has no ready slot for ", size, " bytes (", ready_.size(),
        " ready of ", options_.slot_bytes, " bytes each); call Refill() or set fresh_when_empty"));
  }
  return MemfdPayload::CreateWritable(options_.name, size);
}

absl::StatusOr<std::vector<UniqueFd>> MemfdPool::Refill() {
  std::vector<UniqueFd> created;
  while (ready_.size() < options_.depth) {
    // CreateWritable populates its mapping: the pages are allocated and the writer's page
    // table filled here, not when the payload is produced.
    auto slot = MemfdPayload::CreateWritable(options_.name, options_.slot_bytes);
    if (!slot.ok()) return slot.status();
    int dup = ::fcntl(slot->fd(), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return absl::ErrnoToStatus(errno, "dup pooled memfd");
    created.emplace_back(dup);
    ready_.push_back(std::move(*slot));
  }
  return created;
}

}  // namespace cordon::ipc
