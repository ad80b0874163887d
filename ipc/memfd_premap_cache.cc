#include "ipc/memfd_premap_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

// A read-only fd for the same file. A PROT_READ MAP_SHARED mapping made through a writable
// fd still counts as a writable mapping for F_SEAL_WRITE (EBUSY), so the view must come from
// an O_RDONLY open.
absl::StatusOr<UniqueFd> ReadOnlyReopen(UniqueFd fd) {
  int fl = ::fcntl(fd.get(), F_GETFL);
  if (fl < 0) return absl::ErrnoToStatus(errno, "F_GETFL on offered memfd");
  if ((fl & O_ACCMODE) == O_RDONLY) return fd;
  return MemfdPayload::Reopen(fd.get(), O_RDONLY);
}

}  // namespace

MemfdPremapCache::~MemfdPremapCache() {
  while (!entries_.empty()) EvictOldest();
}

void MemfdPremapCache::EvictOldest() {
  Entry& e = entries_.front();
  ::munmap(e.map, e.len);
  total_bytes_ -= e.len;
  entries_.pop_front();
}

absl::Status MemfdPremapCache::Offer(UniqueFd fd) {
  int seals = ::fcntl(fd.get(), F_GET_SEALS);
  if (seals < 0) {
    return ViolationStatus(ViolationKind::kBadPayload,
                           "offered payload slot is not a sealable memfd (F_GET_SEALS failed)");
  }
  if ((seals & F_SEAL_SEAL) != 0 && (seals & F_SEAL_WRITE) == 0) {
    return ViolationStatus(ViolationKind::kBadPayload,
                           absl::StrCat("offered payload slot can never be write-sealed (seals 0x",
                                        absl::Hex(seals), ")"));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return absl::ErrnoToStatus(errno, "fstat offered memfd");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0 || size > options_.max_slot_bytes || size > options_.max_total_bytes) {
    return ViolationStatus(
        ViolationKind::kBadPayload,
        absl::StrCat("offered payload slot of ", size, " bytes is empty or over the cap of ",
                     options_.max_slot_bytes));
  }
  if (absl::Status s = MemfdPayload::CheckFullyAllocated(fd.get(), size, "offered payload slot");
      !s.ok()) {
    return s;
  }
  auto ro = ReadOnlyReopen(std::move(fd));
  if (!ro.ok()) return ro.status();
  while (!entries_.empty() && (entries_.size() >= options_.max_slots ||
                               total_bytes_ + size > options_.max_total_bytes)) {
    EvictOldest();
  }
  auto m = MemfdPayload::MapPopulated(ro->get(), size, /*writable=*/false);
  if (!m.ok()) return m.status();
  entries_.push_back(Entry{st.st_dev, st.st_ino, std::move(*ro), *m, size});
  total_bytes_ += size;
  return absl::OkStatus();
}

absl::StatusOr<MemfdPayload> MemfdPremapCache::Open(UniqueFd fd, uint64_t expected_size,
                                                    uint64_t max_size) {
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return absl::ErrnoToStatus(errno, "fstat payload memfd");
  auto it = entries_.begin();
  while (it != entries_.end() && !(it->dev == st.st_dev && it->ino == st.st_ino)) ++it;
  if (it == entries_.end()) {
    ++fresh_opens_;
    return MemfdPayload::OpenSealed(std::move(fd), expected_size, max_size);
  }
  // From here on only the cache's own fd is used: the seals and size checked are those of the
  // file whose pages the view shows, even if an inode number was ever reused.
  Entry e = std::move(*it);
  entries_.erase(it);
  total_bytes_ -= e.len;
  fd.reset();
  // Unmaps the view on every refusal below.
  struct Unmapper {
    void* map;
    uint64_t len;
    ~Unmapper() {
      if (map != nullptr) ::munmap(map, len);
    }
  } guard{e.map, e.len};
  // Checked on the cache's own read-only fd of the mapped file, not on the fd in the message.
  absl::StatusOr<uint64_t> checked =
      MemfdPayload::CheckSealed(e.ro_fd.get(), expected_size, max_size);
  if (!checked.ok()) return checked.status();
  const uint64_t size = *checked;
  if (size > e.len) {
    // Grown past the mapped slot before sealing: map it afresh (the checks above still hold).
    ++fresh_opens_;
    return MemfdPayload::OpenSealed(std::move(e.ro_fd), expected_size, max_size);
  }
  ++premapped_opens_;
  guard.map = nullptr;
  return MemfdPayload::AdoptReadOnly(std::move(e.ro_fd), e.map, e.len, size);
}

}  // namespace cordon::ipc
