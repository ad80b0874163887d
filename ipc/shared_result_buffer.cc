#include "ipc/shared_result_buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ipc/memfd_payload.h"
#include "ipc/shared_payload_buffer.h"

namespace cordon::ipc {
namespace {

static_assert(SharedResultBuffer::kRequiredSeals == (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW));
static_assert(SharedResultBuffer::kWriteSeals == (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));

// CopyOut checks and copies this much at a time: the window in which a page can be punched
// out between the check and the copy stays small, and a hole costs a pread of one chunk only.
constexpr uint64_t kCopyChunk = uint64_t{1} << 20;
// From this size on CopyOut copies on two threads.
constexpr uint64_t kParallelCopyBytes = uint64_t{8} << 20;

uint64_t PageSize() {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// True when every page of [addr, addr + len) of a shared file mapping is in the page cache,
// so that reading it faults nothing in. Any doubt (an error) counts as "no".
bool Resident(const char* addr, uint64_t len) {
  const uint64_t page = PageSize();
  const auto a = reinterpret_cast<uintptr_t>(addr);
  const uintptr_t start = a & ~static_cast<uintptr_t>(page - 1);
  const uint64_t span = a + len - start;
  unsigned char vec[kCopyChunk / 4096 + 2];
  const uint64_t pages = (span + page - 1) / page;
  if (pages > sizeof(vec)) return false;
  if (::mincore(reinterpret_cast<void*>(start), span, vec) != 0) return false;
  for (uint64_t i = 0; i < pages; ++i) {
    if ((vec[i] & 1) == 0) return false;
  }
  return true;
}

absl::Status ReadFully(int fd, char* dst, uint64_t length, uint64_t offset) {
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, dst + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "pread shared result buffer");
    // The size is sealed, so the end of the file cannot move into the range.
    if (n == 0) return absl::InternalError("shared result buffer ended early (pread read 0)");
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

SharedResultBuffer::SharedResultBuffer(SharedResultBuffer&& o) noexcept
    : fd_(std::move(o.fd_)),
      map_(std::exchange(o.map_, nullptr)),
      capacity_(std::exchange(o.capacity_, 0)),
      plugin_side_(std::exchange(o.plugin_side_, false)) {}

SharedResultBuffer& SharedResultBuffer::operator=(SharedResultBuffer&& o) noexcept {
  if (this != &o) {
    Unmap();
    fd_ = std::move(o.fd_);
    map_ = std::exchange(o.map_, nullptr);
    capacity_ = std::exchange(o.capacity_, 0);
    plugin_side_ = std::exchange(o.plugin_side_, false);
  }
  return *this;
}

SharedResultBuffer::~SharedResultBuffer() { Unmap(); }

void SharedResultBuffer::Unmap() {
  if (map_ != nullptr) ::munmap(map_, capacity_);
  map_ = nullptr;
}

absl::StatusOr<SharedResultBuffer> SharedResultBuffer::Create(absl::string_view name,
                                                              uint64_t capacity) {
  if (capacity == 0) return absl::InvalidArgumentError("shared result buffer of 0 bytes");
  auto fd = MemfdPayload::CreateSized(name, capacity);
  if (!fd.ok()) return fd.status();
  if (::fcntl(fd->get(), F_ADD_SEALS, static_cast<int>(kRequiredSeals)) != 0) {
    return absl::ErrnoToStatus(errno, "seal shared result buffer (grow|shrink|seal)");
  }
  // Not populated: reading holes would allocate them here, on the host's account.
  void* m = ::mmap(nullptr, capacity, PROT_READ, MAP_SHARED, fd->get(), 0);
  if (m == MAP_FAILED) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mmap shared result buffer of ", capacity));
  }
  // No MADV_HUGEPAGE here: the host should fault nothing in through this mapping, and a hole
  // it did fault (see CopyOut) would then cost a 2 MiB page instead of 4 KiB. The plugin's
  // mapping asks for huge pages; it is the one that allocates.
  SharedResultBuffer b;
  b.fd_ = std::move(*fd);
  b.map_ = m;
  b.capacity_ = capacity;
  return b;
}

absl::StatusOr<UniqueFd> SharedResultBuffer::PeerFd() const {
  if (!fd_.valid() || plugin_side_) {
    return absl::FailedPreconditionError(
        "PeerFd() of a shared result buffer the host does not own");
  }
  return MemfdPayload::Reopen(fd_.get(), O_RDWR);
}

absl::Status SharedResultBuffer::CopyOut(uint64_t offset, uint64_t length, char* dst) const {
  if (absl::Status s = SharedPayloadBuffer::CheckRange(offset, length, capacity_); !s.ok()) {
    return s;
  }
  if (plugin_side_ || map_ == nullptr) {
    return absl::FailedPreconditionError(
        "CopyOut() of a shared result buffer the host does not own");
  }
  if (length < kParallelCopyBytes) return CopyRange(offset, length, dst);
  // A large copy is bound by one core's page walks and stores (4 KiB pages) more than by
  // memory bandwidth: a second thread takes the second half, still one copy of each byte
  // (64 MiB: ~2.5 ms instead of ~3.8 ms on the development VM when a second core is free).
  const uint64_t half = (length / 2 + kCopyChunk - 1) / kCopyChunk * kCopyChunk;
  absl::Status second;
  std::thread helper;
  try {
    helper = std::thread([&] { second = CopyRange(offset + half, length - half, dst + half); });
  } catch (const std::system_error&) {
    return CopyRange(offset, length, dst);  // no thread to be had: one core does it all
  }
  absl::Status first = CopyRange(offset, half, dst);
  helper.join();
  return first.ok() ? second : first;
}

absl::StatusOr<absl::string_view> SharedResultBuffer::DangerUnstableView(uint64_t offset,
                                                                         uint64_t length) const {
  if (absl::Status s = SharedPayloadBuffer::CheckRange(offset, length, capacity_); !s.ok()) {
    return s;
  }
  if (plugin_side_ || map_ == nullptr) {
    return absl::FailedPreconditionError(
        "DangerUnstableView() of a shared result buffer the host does not own");
  }
  const char* base = static_cast<const char*>(map_);
  for (uint64_t done = 0; done < length;) {
    const uint64_t at = offset + done;
    const uint64_t n = std::min(length - done, kCopyChunk - at % kCopyChunk);
    if (!Resident(base + at, n)) {
      return absl::FailedPreconditionError(
          absl::StrCat("shared result range at ", at, " has pages the plugin never wrote"));
    }
    done += n;
  }
  return absl::string_view(base + offset, length);
}

absl::Status SharedResultBuffer::CopyRange(uint64_t offset, uint64_t length, char* dst) const {
  const char* base = static_cast<const char*>(map_);
  uint64_t done = 0;
  while (done < length) {
    const uint64_t at = offset + done;
    const uint64_t n = std::min(length - done, kCopyChunk - at % kCopyChunk);
    if (Resident(base + at, n)) {
      std::memcpy(dst + done, base + at, n);
    } else if (absl::Status s = ReadFully(fd_.get(), dst + done, n, at); !s.ok()) {
      return s;
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<SharedResultBuffer> SharedResultBuffer::OpenWritable(UniqueFd fd,
                                                                    uint64_t max_capacity) {
  int seals = ::fcntl(fd.get(), F_GET_SEALS);
  if (seals < 0 || (static_cast<unsigned>(seals) & kRequiredSeals) != kRequiredSeals ||
      (static_cast<unsigned>(seals) & kWriteSeals) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared result buffer must be a memfd sealed grow|shrink|seal and not "
                     "write-sealed (seals 0x",
                     absl::Hex(seals), ")"));
  }
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) != O_RDWR) {
    return absl::InvalidArgumentError("shared result buffer fd is not open read-write");
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return absl::ErrnoToStatus(errno, "fstat result buffer");
  const uint64_t capacity = static_cast<uint64_t>(st.st_size);
  if (capacity == 0 || capacity > max_capacity) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shared result buffer of ", capacity, " bytes is empty or over the cap of ", max_capacity));
  }
  SharedResultBuffer b;
  b.fd_ = std::move(fd);
  b.capacity_ = capacity;
  b.plugin_side_ = true;
  return b;
}

absl::StatusOr<absl::Span<char>> SharedResultBuffer::Writable() {
  if (!plugin_side_ || !fd_.valid()) {
    return absl::FailedPreconditionError("only the plugin writes a shared result buffer");
  }
  if (map_ == nullptr) {
    // Not populated: a page is allocated (on this process's memory cgroup) when first written,
    // so a buffer larger than the results actually produced costs only address space.
    void* m = ::mmap(nullptr, capacity_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (m == MAP_FAILED) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("mmap shared result buffer of ", capacity_, " bytes"));
    }
    (void)::madvise(m, capacity_, MADV_HUGEPAGE);
    map_ = m;
  }
  return absl::Span<char>(static_cast<char*>(map_), capacity_);
}

}  // namespace cordon::ipc
