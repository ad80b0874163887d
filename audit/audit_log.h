#ifndef CORDON_AUDIT_AUDIT_LOG_H_
#define CORDON_AUDIT_AUDIT_LOG_H_

#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "audit/audit_record.h"
#include "audit/chain_hasher.h"

namespace cordon::audit {

enum class Durability {
  kBatch,  // write(2) before Append returns; fdatasync every batch_interval (group commit)
  kSync,   // fdatasync before Append returns; concurrent appenders share one fdatasync
};

// What the launcher must do once the log cannot be written. The log itself only reports
// (status + callback); enforcing the policy is the caller's job, and every later Append
// keeps failing so nothing can slip through unrecorded.
enum class OnWriteFailure { kDenyRequests, kKillPlugins, kStopLauncher };

std::string_view OnWriteFailureName(OnWriteFailure policy);

struct AuditLogOptions {
  std::string path;  // active file; rotated files are "<path>.<first seq, 20 digits>"
  Durability durability = Durability::kBatch;
  std::string hmac_key_file;  // empty: plain SHA-256 chain
  // No file grows past rotate_bytes: the record that would take it over starts the next file
  // (a single record larger than the limit gets a file of its own). 0: no size rotation.
  uint64_t rotate_bytes = 0;
  // A record written once the active file is this old starts the next file. 0: no age rotation.
  absl::Duration rotate_age = absl::ZeroDuration();
  OnWriteFailure on_failure = OnWriteFailure::kKillPlugins;
  // Batch mode only: the longest time an acknowledged record may sit un-fdatasync'ed, i.e.
  // the power-failure loss window. A background thread syncs at this interval by itself.
  absl::Duration batch_interval = absl::Milliseconds(200);
  // Called once, from the thread that hit the failure and without the log's lock held, when
  // the log enters its failed state. In batch mode that may be the background flusher, with
  // no Append in progress: the launcher must act on it here, not wait for the next record.
  std::function<void(const absl::Status&, OnWriteFailure)> on_failure_callback;
  // Test seam: replaces fdatasync(2) so a failing fsync can be exercised.
  std::function<int(int fd)> fdatasync_for_testing;
  // Test seam: replaces clock_gettime(CLOCK_REALTIME) for `ts` and the rotation age.
  std::function<timespec()> clock_for_testing;
};

class AuditLog {
 public:
  // Opens or creates the log. A torn last record (crash mid-write) is cut off and reported in
  // an `audit.recovered` record; seq and the chain continue from the last good record, in the
  // active file or, if that is empty, the newest rotated file. Fails if the last complete
  // record does not verify (the tail was edited): run `cordon audit verify` first.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const AuditLogOptions& options);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Thread-safe. OK only once the record is in the file per the durability mode (batch:
  // write(2) done, so a SIGKILL of this process cannot lose it; sync: fdatasync done).
  // Adds seq, ts, launcher_pid, prev and hash.
  absl::Status Append(const AuditRecord& record);
  // As Append, and returns the record's seq.
  absl::StatusOr<uint64_t> AppendAndGetSeq(const AuditRecord& record);
  // fdatasync everything written so far.
  absl::Status Flush();

  OnWriteFailure on_failure() const { return options_.on_failure; }
  // OK until the first write/sync failure; then that failure, forever.
  absl::Status failure() const;
  uint64_t last_seq() const;
  const std::string& path() const { return options_.path; }

 private:
  struct File;
  explicit AuditLog(const AuditLogOptions& options);

  absl::Status Recover(std::string* torn, uint64_t* torn_offset);
  absl::Status OpenActive();
  absl::Status RotateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True when the active file must be rotated before a record of `next_record_bytes` is
  // written to it: by age, or because the record would take it over rotate_bytes.
  bool RotationDueLocked(uint64_t next_record_bytes) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How many leading bytes of `records` (whole lines) go into the active file before the next
  // rotation: as many whole records as fit under rotate_bytes, at least one.
  size_t FittingBytesLocked(std::string_view records) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes pending_ (rotating where a record would not fit); drops mu_ during each write(2).
  absl::Status WriteBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status FailLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyFailure(const absl::Status& status);
  absl::Status SyncUpTo(uint64_t seq);
  int DoFdatasync(const File& file);
  timespec Now() const;
  void FlusherLoop();

  const AuditLogOptions options_;
  const pid_t launcher_pid_;
  std::unique_ptr<ChainHasher> hasher_;

  mutable absl::Mutex mu_;
  std::shared_ptr<File> file_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::string prev_hash_ ABSL_GUARDED_BY(mu_);
  uint64_t file_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t file_first_seq_ ABSL_GUARDED_BY(mu_) = 0;  // 0: active file holds no record
  absl::Time file_started_ ABSL_GUARDED_BY(mu_);
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  bool failure_notified_ ABSL_GUARDED_BY(mu_) = false;
  std::string pending_ ABSL_GUARDED_BY(mu_);  // formatted records not yet written
  uint64_t pending_first_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t pending_last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool writer_active_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> written_seq_{0};

  absl::Mutex sync_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // serialises fdatasync calls
  uint64_t synced_seq_ ABSL_GUARDED_BY(sync_mu_) = 0;

  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread flusher_;
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_AUDIT_LOG_H_
