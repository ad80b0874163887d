#ifndef CORDON_IPC_MEMFD_PAYLOAD_H_
#define CORDON_IPC_MEMFD_PAYLOAD_H_

#include <sys/stat.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// A memory mapping of a memfd used to pass large payloads without copying them through the
// socket. Writers: CreateWritable() → fill mutable_data() → Seal(). Readers: OpenSealed()
// checks that the memfd can never change again (write, grow, shrink and seal seals all set)
// and that its size matches and is under the cap, then maps it read-only. The seals are what
// make the zero-copy safe: without them the sender could change the bytes after the receiver
// validated them.
class MemfdPayload {
 public:
  static constexpr unsigned kRequiredSeals =
      0x1 /*F_SEAL_SEAL*/ | 0x2 /*F_SEAL_SHRINK*/ | 0x4 /*F_SEAL_GROW*/ | 0x8 /*F_SEAL_WRITE*/;

  MemfdPayload() = default;
  MemfdPayload(MemfdPayload&& o) noexcept;
  MemfdPayload& operator=(MemfdPayload&& o) noexcept;
  MemfdPayload(const MemfdPayload&) = delete;
  MemfdPayload& operator=(const MemfdPayload&) = delete;
  ~MemfdPayload();

  // A sealable memfd of `size` bytes, mapped read-write.
  static absl::StatusOr<MemfdPayload> CreateWritable(absl::string_view name, uint64_t size);
  // A sealable (MFD_ALLOW_SEALING), close-on-exec memfd of `size` bytes, unmapped and with no
  // page allocated yet.
  static absl::StatusOr<UniqueFd> CreateSized(absl::string_view name, uint64_t size);
  // A new open file description of the file behind `fd` (through /proc/self/fd), with
  // `access` (O_RDONLY or O_RDWR), close-on-exec: what a peer gets, so that nothing it does to
  // its offset, flags or locks touches ours, and so that its access is only what we chose.
  static absl::StatusOr<UniqueFd> Reopen(int fd, int access);
  // Convenience: a sealed memfd holding a copy of `data`.
  static absl::StatusOr<UniqueFd> CreateSealed(absl::string_view name, absl::string_view data);
  // Validates seals and size of a received memfd and maps it read-only.
  static absl::StatusOr<MemfdPayload> OpenSealed(UniqueFd fd, uint64_t expected_size,
                                                 uint64_t max_size);

  // Writable mapping (only before Seal()).
  absl::Span<char> mutable_data();
  absl::string_view data() const;
  uint64_t size() const { return size_; }
  // The memfd itself (still owned by this object), e.g. to dup for sending.
  int fd() const { return fd_.get(); }
  bool sealed() const { return fd_.valid() && !writable_; }

  // Cuts a writable payload down to its final `size` (<= size()) before Seal(), so that a
  // pooled slot larger than the payload goes out with the exact length the receiver checks.
  absl::Status Shrink(uint64_t size);

  // Unmaps the writable view, applies all seals, remaps read-only, and returns a dup of the fd
  // to send (this object keeps a read-only view).
  absl::StatusOr<UniqueFd> Seal();

  // mmap(MAP_SHARED) of `size` bytes of a memfd, asking for transparent huge pages
  // (MADV_HUGEPAGE, honoured only when the host sets
  // /sys/kernel/mm/transparent_hugepage/shmem_enabled to advise, within_size or always; see
  // docs/performance-ipc.md) and then filling the page table in one call (MADV_POPULATE_*),
  // so that neither the writer nor the reader takes one fault per 4 KiB page.
  static absl::StatusOr<void*> MapPopulated(int fd, uint64_t size, bool writable);
  // kBadPayload violation unless every byte of the first `size` bytes of `fd` is allocated
  // (no hole before offset `size`).
  static absl::Status CheckFullyAllocated(int fd, uint64_t size, absl::string_view what);
  // The receiver's checks on a memfd from the other side: every required seal set, exactly
  // expected_size bytes, at most max_size, every byte allocated. Returns the file's size.
  static absl::StatusOr<uint64_t> CheckSealed(int fd, uint64_t expected_size, uint64_t max_size);

 private:
  friend class MemfdPremapCache;
  // Takes over an existing read-only mapping of `map_len` bytes of which the first `size` are
  // the payload (the receiver mapped the memfd before it was filled and sealed).
  static MemfdPayload AdoptReadOnly(UniqueFd fd, void* map, uint64_t map_len, uint64_t size);
  void Unmap();

  UniqueFd fd_;
  void* map_ = nullptr;
  uint64_t map_len_ = 0;  // may exceed size_ after Shrink() or for an adopted mapping
  uint64_t size_ = 0;
  bool writable_ = false;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_MEMFD_PAYLOAD_H_
