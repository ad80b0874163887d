#include "ipc/memfd_payload.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

static_assert(MemfdPayload::kRequiredSeals ==
              (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE));

absl::StatusOr<UniqueFd> NewMemfd(absl::string_view name) {
  std::string n(name.substr(0, 200));
  int fd =
      static_cast<int>(::syscall(SYS_memfd_create, n.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd < 0) return absl::ErrnoToStatus(errno, "memfd_create");
  return UniqueFd(fd);
}

}  // namespace

MemfdPayload::MemfdPayload(MemfdPayload&& o) noexcept
    : fd_(std::move(o.fd_)),
      map_(std::exchange(o.map_, nullptr)),
      map_len_(std::exchange(o.map_len_, 0)),
      size_(std::exchange(o.size_, 0)),
      writable_(std::exchange(o.writable_, false)) {}

MemfdPayload& MemfdPayload::operator=(MemfdPayload&& o) noexcept {
  if (this != &o) {
    Unmap();
    fd_ = std::move(o.fd_);
    map_ = std::exchange(o.map_, nullptr);
    map_len_ = std::exchange(o.map_len_, 0);
    size_ = std::exchange(o.size_, 0);
    writable_ = std::exchange(o.writable_, false);
  }
  return *this;
}

MemfdPayload::~MemfdPayload() { Unmap(); }

void MemfdPayload::Unmap() {
  if (map_ != nullptr) ::munmap(map_, map_len_);
  map_ = nullptr;
  map_len_ = 0;
}

MemfdPayload MemfdPayload::AdoptReadOnly(UniqueFd fd, void* map, uint64_t map_len, uint64_t size) {
  MemfdPayload p;
  p.fd_ = std::move(fd);
  p.map_ = map;
  p.map_len_ = map_len;
  p.size_ = size;
  return p;
}

absl::Status MemfdPayload::CheckFullyAllocated(int fd, uint64_t size, absl::string_view what) {
  // Reading a hole of a shmem file allocates a page on the reader's memory account, so a sparse
  // memfd would let the sender make this process allocate up to the cap for free. st_blocks is
  // not proof: fallocate(FALLOC_FL_KEEP_SIZE) past the end adds blocks no read ever sees, so
  // ask for the first hole instead. The end of the file is the implicit hole of a file without
  // any, and a write seal forbids punching one later. shmem also reports pages that were
  // fallocated but never written as holes; reading those would cost the reader nothing, but
  // "write every page" is the simpler rule and every real sender follows it.
  if (size == 0) return absl::OkStatus();
  off_t first_hole = ::lseek(fd, 0, SEEK_HOLE);
  if (first_hole < 0) {
    return ViolationStatus(ViolationKind::kBadPayload,
                           absl::StrCat(what, ": lseek(SEEK_HOLE) failed: ", strerror(errno)));
  }
  if (static_cast<uint64_t>(first_hole) < size) {
    return ViolationStatus(ViolationKind::kBadPayload,
                           absl::StrCat(what, " of ", size, " bytes has a hole at offset ",
                                        first_hole, " (sparse); senders must write every page"));
  }
  return absl::OkStatus();
}

absl::StatusOr<void*> MemfdPayload::MapPopulated(int fd, uint64_t size, bool writable) {
  void* m = ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    return absl::ErrnoToStatus(
        errno,
        absl::StrCat("mmap memfd of ", size, writable ? " bytes read-write" : " bytes read-only"));
  }
  // The advice must come before the page table is filled: a reader's mapping only maps a huge
  // page with one entry if its own VMA asked for huge pages. Without host support it is a no-op.
  (void)::madvise(m, size, MADV_HUGEPAGE);
  // Writers populate for writing, so the first store does not fault again; a reader's populate
  // maps existing pages only in its page table. MAP_POPULATE would fill shared writable mappings
  // with read faults and cannot follow MADV_HUGEPAGE.
  if (::madvise(m, size, writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) != 0 &&
      errno != EINVAL) {
    int err = errno;
    ::munmap(m, size);
    // EFAULT/ENOMEM here mean the pages cannot be had (a memfd shrunk under us, or no memory):
    // refuse now rather than SIGBUS while reading.
    return absl::ErrnoToStatus(err, absl::StrCat("populate memfd mapping of ", size, " bytes"));
  }
  return m;
}

absl::Status MemfdPayload::Shrink(uint64_t size) {
  if (!writable_) return absl::FailedPreconditionError("only a writable memfd payload can shrink");
  if (size > size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot shrink a memfd payload of ", size_, " bytes to ", size));
  }
  if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("ftruncate memfd to ", size, " bytes"));
  }
  // The mapping keeps its length (munmap needs it); bytes past `size` are no longer exposed.
  size_ = size;
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> MemfdPayload::Reopen(int fd, int access) {
  const std::string path = absl::StrCat("/proc/self/fd/", fd);
  const int reopened = ::open(path.c_str(), (access & O_ACCMODE) | O_CLOEXEC);
  if (reopened < 0) {
    return absl::ErrnoToStatus(
        errno,
        absl::StrCat("reopen ", path, (access & O_ACCMODE) == O_RDWR ? " read-write" : " read-only",
                     " (is /proc mounted?)"));
  }
  return UniqueFd(reopened);
}

absl::StatusOr<UniqueFd> MemfdPayload::CreateSized(absl::string_view name, uint64_t size) {
  auto fd = NewMemfd(name);
  if (!fd.ok()) return fd.status();
  if (::ftruncate(fd->get(), static_cast<off_t>(size)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("ftruncate memfd to ", size, " bytes"));
  }
  return std::move(*fd);
}

absl::StatusOr<MemfdPayload> MemfdPayload::CreateWritable(absl::string_view name, uint64_t size) {
  auto fd = CreateSized(name, size);
  if (!fd.ok()) return fd.status();
  MemfdPayload p;
  p.fd_ = std::move(*fd);
  p.size_ = size;
  p.writable_ = true;
  if (size > 0) {
    auto m = MapPopulated(p.fd_.get(), size, /*writable=*/true);
    if (!m.ok()) return m.status();
    p.map_ = *m;
    p.map_len_ = size;
  }
  return p;
}

absl::StatusOr<UniqueFd> MemfdPayload::CreateSealed(absl::string_view name,
                                                    absl::string_view data) {
  auto fd = NewMemfd(name);
  if (!fd.ok()) return fd.status();
  // write() rather than a mapping: one copy either way, and no writable mapping to undo
  // before F_SEAL_WRITE.
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd->get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write memfd");
    }
    off += static_cast<size_t>(n);
  }
  if (::fcntl(fd->get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) !=
      0) {
    return absl::ErrnoToStatus(errno, "seal memfd");
  }
  return std::move(*fd);
}

absl::StatusOr<uint64_t> MemfdPayload::CheckSealed(int fd, uint64_t expected_size,
                                                   uint64_t max_size) {
  int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    return ViolationStatus(ViolationKind::kBadPayload,
                           "payload fd is not a sealable memfd (F_GET_SEALS failed)");
  }
  if ((static_cast<unsigned>(seals) & kRequiredSeals) != kRequiredSeals) {
    return ViolationStatus(
        ViolationKind::kBadPayload,
        absl::StrCat("payload memfd is not fully sealed (seals 0x", absl::Hex(seals),
                     ", need write|grow|shrink|seal 0x", absl::Hex(kRequiredSeals), ")"));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return absl::ErrnoToStatus(errno, "fstat payload memfd");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size != expected_size) {
    return ViolationStatus(
        ViolationKind::kBadPayload,
        absl::StrCat("payload memfd is ", size, " bytes but the message says ", expected_size));
  }
  if (size > max_size) {
    return ViolationStatus(
        ViolationKind::kBadPayload,
        absl::StrCat("payload memfd of ", size, " bytes exceeds the cap of ", max_size));
  }
  // Holes would be allocated on the reader's memory account when read.
  if (absl::Status s = CheckFullyAllocated(fd, size, "payload memfd"); !s.ok()) return s;
  return size;
}

absl::StatusOr<MemfdPayload> MemfdPayload::OpenSealed(UniqueFd fd, uint64_t expected_size,
                                                      uint64_t max_size) {
  absl::StatusOr<uint64_t> checked = CheckSealed(fd.get(), expected_size, max_size);
  if (!checked.ok()) return checked.status();
  const uint64_t size = *checked;
  MemfdPayload p;
  p.fd_ = std::move(fd);
  p.size_ = size;
  if (size > 0) {
    auto m = MapPopulated(p.fd_.get(), size, /*writable=*/false);
    if (!m.ok()) return m.status();
    p.map_ = *m;
    p.map_len_ = size;
  }
  return p;
}

absl::Span<char> MemfdPayload::mutable_data() {
  if (!writable_ || map_ == nullptr) return {};
  return absl::Span<char>(static_cast<char*>(map_), size_);
}

absl::string_view MemfdPayload::data() const {
  if (map_ == nullptr) return {};
  return absl::string_view(static_cast<const char*>(map_), size_);
}

absl::StatusOr<UniqueFd> MemfdPayload::Seal() {
  if (!fd_.valid()) return absl::FailedPreconditionError("memfd payload is empty");
  if (writable_) {
    // F_SEAL_WRITE fails with EBUSY while a writable shared mapping exists.
    Unmap();
    writable_ = false;
    if (::fcntl(fd_.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) !=
        0) {
      return absl::ErrnoToStatus(errno, "seal memfd");
    }
    if (size_ > 0) {
      void* m = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_.get(), 0);
      if (m == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap sealed memfd");
      map_ = m;
      map_len_ = size_;
    }
  }
  int dup = ::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return absl::ErrnoToStatus(errno, "dup memfd");
  return UniqueFd(dup);
}

}  // namespace cordon::ipc
