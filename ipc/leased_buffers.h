#ifndef CORDON_IPC_LEASED_BUFFERS_H_
#define CORDON_IPC_LEASED_BUFFERS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "ipc/unique_fd.h"

namespace cordon::ipc {

// The bookkeeping both shared-buffer pools keep (SharedInputPool, SharedResultPool): live
// buffers by id (ids only increase), each free or leased to one call, and announced to the
// plugin or not. A retired buffer leaves the map (the host drops its mapping) but keeps
// counting in created() and total_bytes(), because the plugin keeps its mapping of every buffer
// it was announced. Not thread-safe: each pool calls it under its own lock. Buffer needs
// PeerFd().
template <typename Buffer>
class LeasedBuffers {
 public:
  struct Entry {
    std::shared_ptr<Buffer> buffer;
    bool leased = false;
    bool announced = false;
  };

  // `what` names the buffers in errors ("shared input buffer").
  explicit LeasedBuffers(std::string what) : what_(std::move(what)) {}

  std::map<uint64_t, Entry>& entries() { return entries_; }
  const std::map<uint64_t, Entry>& entries() const { return entries_; }
  // Adds `buffer` of `bytes` bytes, leased, under the next id.
  uint64_t AddLeased(Buffer buffer, uint64_t bytes) {
    const uint64_t id = next_id_++;
    Entry& e = entries_[id];
    e.buffer = std::make_shared<Buffer>(std::move(buffer));
    e.leased = true;
    ++created_;
    total_bytes_ += bytes;
    return id;
  }
  // A fresh fd of a live buffer for its announcement.
  absl::StatusOr<UniqueFd> PeerFd(uint64_t id) const {
    auto it = entries_.find(id);
    if (it == entries_.end()) return absl::NotFoundError(absl::StrCat("no ", what_, " ", id));
    return it->second.buffer->PeerFd();
  }
  void MarkAnnounced(uint64_t id) {
    auto it = entries_.find(id);
    if (it != entries_.end()) it->second.announced = true;
  }
  // Ends a lease: free again when reusable, else retired. Returns a retired buffer so that the
  // caller drops it (unmaps) outside its lock.
  std::shared_ptr<Buffer> Release(uint64_t id, bool reusable) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return nullptr;
    if (reusable) {
      it->second.leased = false;
      return nullptr;
    }
    std::shared_ptr<Buffer> retired = std::move(it->second.buffer);
    entries_.erase(it);
    return retired;
  }
  size_t free_count() const {
    size_t n = 0;
    for (const auto& [id, e] : entries_) n += e.leased ? 0 : 1;
    return n;
  }
  // Live plus retired.
  size_t created() const { return created_; }
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  const std::string what_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 1;
  size_t created_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_LEASED_BUFFERS_H_
