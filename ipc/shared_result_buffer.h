#ifndef CORDON_IPC_SHARED_RESULT_BUFFER_H_
#define CORDON_IPC_SHARED_RESULT_BUFFER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// A reusable buffer a plugin writes call results into in place (plugin → host). The host
// creates it, so the host picks its size, and seals it F_SEAL_GROW|F_SEAL_SHRINK|F_SEAL_SEAL:
// neither side can resize it (no SIGBUS on either side's mapping, no growth past the size the
// host accepted) while writes stay possible. The plugin gets a read-write fd and maps it
// read-write for good; the host keeps a read-only mapping.
//
// The plugin can rewrite any byte at any time, so the host never lets a caller see these pages:
// CopyOut copies a range once into memory of the host's, and only that copy is returned (no
// double fetch: every byte is read exactly once, and nothing is checked on the bytes).
//
// Pages belong to whoever first touches them: a page the plugin writes is allocated on the
// plugin's memory cgroup and stays there while the buffer lives (reused for every later
// result). The host allocates none, but for a page the plugin punches out between CopyOut's
// residency check and its copy: at most one page per page of the buffer over the session,
// since such a page stays in the file. Not thread-safe on the plugin side; CopyOut is const
// and may run on several threads.
class SharedResultBuffer {
 public:
  static constexpr unsigned kRequiredSeals =
      0x1 /*F_SEAL_SEAL*/ | 0x2 /*F_SEAL_SHRINK*/ | 0x4 /*F_SEAL_GROW*/;
  static constexpr unsigned kWriteSeals = 0x8 /*F_SEAL_WRITE*/ | 0x10 /*F_SEAL_FUTURE_WRITE*/;

  SharedResultBuffer() = default;
  SharedResultBuffer(SharedResultBuffer&& o) noexcept;
  SharedResultBuffer& operator=(SharedResultBuffer&& o) noexcept;
  SharedResultBuffer(const SharedResultBuffer&) = delete;
  SharedResultBuffer& operator=(const SharedResultBuffer&) = delete;
  ~SharedResultBuffer();

  // Host side: a buffer of `capacity` bytes, sealed as above and mapped read-only. No page is
  // allocated: the plugin's first write to each page does that.
  static absl::StatusOr<SharedResultBuffer> Create(absl::string_view name, uint64_t capacity);
  // Host side: a read-write, close-on-exec fd to send to the plugin, on an open file description
  // of its own (reopened), so that nothing the plugin does with its file offset or locks touches
  // the host's.
  absl::StatusOr<UniqueFd> PeerFd() const;
  // Host side: copies bytes [offset, offset + length) to dst (length bytes), once. A range
  // outside the buffer is a kBadPayload violation (offset + length computed without overflow).
  // Pages the plugin never wrote, or punched out, are holes: a read fault on one would allocate
  // a page of the file on the host's memory account. They are found with mincore() (a lockless
  // page-cache lookup: no inode lock the plugin could hold up) and read with pread(), which
  // returns zeros for holes without allocating; the rest is one memcpy from the mapping.
  absl::Status CopyOut(uint64_t offset, uint64_t length, char* dst) const;
  // Host side, for SharedResultPool::Options::danger_unstable_result_views only: the range as
  // a view of the host's read-only mapping, no copy. The plugin can change these bytes while
  // they are read. FailedPrecondition when a page of the range is not resident (reading it
  // would allocate it on the host's account): the caller copies instead. Range errors as for
  // CopyOut.
  absl::StatusOr<absl::string_view> DangerUnstableView(uint64_t offset, uint64_t length) const;

  // Plugin side: checks that `fd` is a memfd open read-write with the seals above and no write
  // seal, of at most max_capacity bytes. It is mapped on the first Writable(), so a plugin that
  // never writes a result in place spends no address space on it.
  static absl::StatusOr<SharedResultBuffer> OpenWritable(UniqueFd fd, uint64_t max_capacity);
  // Plugin side: the whole buffer, writable (maps it on first use).
  absl::StatusOr<absl::Span<char>> Writable();

  uint64_t capacity() const { return capacity_; }

 private:
  void Unmap();
  // CopyOut's work on one thread, the range already checked.
  absl::Status CopyRange(uint64_t offset, uint64_t length, char* dst) const;

  UniqueFd fd_;
  void* map_ = nullptr;
  uint64_t capacity_ = 0;
  bool plugin_side_ = false;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_SHARED_RESULT_BUFFER_H_
