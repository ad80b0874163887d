#include "audit/audit_log.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "audit/json_escape.h"
#include "audit/log_files.h"
#include "audit/record_line.h"

namespace cordon::audit {

// The open active file. Shared so an fdatasync running outside the append lock keeps the fd
// alive across a concurrent rotation.
struct AuditLog::File {
  int fd = -1;
  // False for a device (/dev/null): nothing to sync, never rotated.
  bool regular = true;
  ~File() {
    if (fd >= 0) close(fd);
  }
};

std::string_view OnWriteFailureName(OnWriteFailure policy) {
  switch (policy) {
    case OnWriteFailure::kDenyRequests:
      return "deny-requests";
    case OnWriteFailure::kKillPlugins:
      return "kill-plugins";
    case OnWriteFailure::kStopLauncher:
      return "stop-launcher";
  }
  return "unknown";
}

AuditLog::AuditLog(const AuditLogOptions& options)
    : options_(options), launcher_pid_(getpid()), prev_hash_(ChainHasher::GenesisHex()) {}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditLogOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("audit log path is empty; set AuditLogOptions.path");
  }
  std::unique_ptr<AuditLog> log(new AuditLog(options));
  absl::StatusOr<std::unique_ptr<ChainHasher>> hasher = ChainHasher::Create(options.hmac_key_file);
  if (!hasher.ok()) return hasher.status();
  log->hasher_ = *std::move(hasher);
  if (absl::Status s = log->OpenActive(); !s.ok()) return s;
  std::string torn;
  uint64_t torn_offset = 0;
  if (absl::Status s = log->Recover(&torn, &torn_offset); !s.ok()) return s;
  if (!torn.empty()) {
    AuditRecord rec("audit.recovered");
    rec.Set("file", options.path)
        .Set("offset", torn_offset)
        .Set("torn_bytes", static_cast<uint64_t>(torn.size()))
        .Set("torn_head_hex", HexEncode(std::string_view(torn).substr(0, 256)))
        .Set("last_seq", log->last_seq());
    if (absl::Status s = log->Append(rec); !s.ok()) return s;
    if (absl::Status s = log->Flush(); !s.ok()) return s;
  }
  if (options.durability == Durability::kBatch) {
    log->flusher_ = std::thread([raw = log.get()] { raw->FlusherLoop(); });
  }
  return log;
}

AuditLog::~AuditLog() {
  {
    absl::MutexLock l(&stop_mu_);
    stop_ = true;
  }
  if (flusher_.joinable()) flusher_.join();
  (void)Flush();
}

absl::Status AuditLog::OpenActive() {
  const int fd =
      open(options_.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit log ", options_.path, ": open: ", strerror(errno),
                     "; check that the directory exists and is writable"));
  }
  auto file = std::make_shared<File>();
  file->fd = fd;
  // Rotation renames the file: never a device such as /dev/null (which is written, unsynced,
  // and never rotated).
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit log ", options_.path, ": fstat: ", strerror(errno)));
  }
  file->regular = S_ISREG(st.st_mode);
  if (!file->regular && (options_.rotate_bytes > 0 || options_.rotate_age > absl::ZeroDuration())) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log ", options_.path,
                     " is not a regular file, so it cannot be rotated; drop "
                     "--audit-rotate-size/--audit-rotate-age or log to a file"));
  }
  // Two writers would interleave two chains in one file. (Not a device: two launchers logging
  // to /dev/null must not lock each other out.)
  if (file->regular && flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit log ", options_.path, " is locked by another process (",
                     strerror(errno), "); only one launcher may write a log"));
  }
  absl::MutexLock l(&mu_);
  file_ = std::move(file);
  file_started_ = absl::TimeFromTimespec(Now());
  return LogFiles::SyncDirectory(options_.path);
}

absl::Status AuditLog::Recover(std::string* torn, uint64_t* torn_offset) {
  absl::MutexLock l(&mu_);
  const int fd = file_->fd;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("audit log ", options_.path, ": fstat: ", strerror(errno)));
  }
  const uint64_t size = st.st_size;
  absl::StatusOr<std::string> tail = LogFiles::ReadTail(fd, size, 2 * RecordLine::kMaxLineBytes);
  if (!tail.ok()) return tail.status();
  const size_t last_nl = tail->rfind('\n');
  const uint64_t tail_start = size - tail->size();
  const uint64_t good_end = last_nl == std::string::npos ? tail_start : tail_start + last_nl + 1;
  if (last_nl == std::string::npos && size > tail->size()) {
    return absl::DataLossError(absl::StrCat("audit log ", options_.path, ": last ", tail->size(),
                                            " bytes hold no record boundary; ",
                                            "run `cordon audit verify` and move the file away"));
  }
  if (good_end < size) {
    // A crash mid-write left a partial record: cut it off (saved in audit.recovered).
    *torn = tail->substr(good_end - tail_start);
    *torn_offset = good_end;
    if (ftruncate(fd, good_end) != 0 || fdatasync(fd) != 0) {
      return absl::UnavailableError(
          absl::StrCat("audit log ", options_.path, ": cannot cut torn tail: ", strerror(errno)));
    }
  }
  file_bytes_ = good_end;

  std::string last_line;
  if (good_end > 0) {
    const std::string_view head(tail->data(), good_end - tail_start - 1);
    const size_t prev_nl = head.rfind('\n');
    last_line = std::string(prev_nl == std::string::npos ? head : head.substr(prev_nl + 1));
    // The first record names the file on rotation and starts its age.
    std::string first(std::min<uint64_t>(good_end, RecordLine::kMaxLineBytes + 1), '\0');
    const ssize_t r = pread(fd, first.data(), first.size(), 0);
    if (r <= 0) {
      return absl::UnavailableError(absl::StrCat("audit log ", options_.path, ": pread failed"));
    }
    first.resize(r);
    first.resize(first.find('\n') == std::string::npos ? 0 : first.find('\n'));
    absl::StatusOr<ParsedRecord> fr = RecordLine::Parse(first);
    if (!fr.ok()) {
      return absl::DataLossError(absl::StrCat(
          "audit log ", options_.path, ": first record is unreadable: ", fr.status().message(),
          "; run `cordon audit verify`"));
    }
    file_first_seq_ = fr->seq;
    if (absl::StatusOr<absl::Time> t = RecordLine::ParseTimestamp(fr->ts); t.ok()) {
      file_started_ = *t;
    }
  } else {
    absl::StatusOr<std::vector<LogFiles::Rotated>> rotated = LogFiles::ListRotated(options_.path);
    if (!rotated.ok()) return rotated.status();
    if (!rotated->empty()) {
      absl::StatusOr<std::string> line = LogFiles::LastLine(rotated->back().path);
      if (!line.ok()) return line.status();
      last_line = *std::move(line);
    }
  }
  if (last_line.empty()) return absl::OkStatus();  // a fresh log
  // Continuing a chain from a record that does not verify would launder an edit.
  std::string_view canonical, stored;
  if (absl::Status s = RecordLine::Split(last_line, &canonical, &stored); !s.ok()) {
    return absl::DataLossError(absl::StrCat("audit log ", options_.path,
                                            ": last record is malformed (", s.message(),
                                            "); run `cordon audit verify`"));
  }
  absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(last_line);
  if (!rec.ok()) {
    return absl::DataLossError(absl::StrCat("audit log ", options_.path,
                                            ": last record is unreadable (", rec.status().message(),
                                            "); run `cordon audit verify`"));
  }
  char computed[ChainHasher::kHexLength];
  if (absl::Status s = hasher_->HashHex(canonical, computed); !s.ok()) return s;
  if (std::string_view(computed, sizeof computed) != stored) {
    return absl::DataLossError(
        absl::StrCat("audit log ", options_.path, ": last record seq ", rec->seq,
                     " does not match its hash (edited, or written with a different HMAC key); "
                     "run `cordon audit verify`"));
  }
  next_seq_ = rec->seq + 1;
  prev_hash_ = std::string(stored);
  written_seq_.store(rec->seq);
  return absl::OkStatus();
}

absl::Status AuditLog::failure() const {
  absl::MutexLock l(&mu_);
  return failed_;
}

uint64_t AuditLog::last_seq() const {
  absl::MutexLock l(&mu_);
  return next_seq_ - 1;
}

absl::Status AuditLog::FailLocked(absl::Status status) {
  if (failed_.ok()) {
    failed_ =
        absl::Status(status.code(), absl::StrCat(status.message(), "; on_failure policy: ",
                                                 ToAbsl(OnWriteFailureName(options_.on_failure))));
  }
  return failed_;
}

void AuditLog::NotifyFailure(const absl::Status& status) {
  {
    absl::MutexLock l(&mu_);
    if (failure_notified_) return;
    failure_notified_ = true;
  }
  if (options_.on_failure_callback) options_.on_failure_callback(status, options_.on_failure);
}

int AuditLog::DoFdatasync(const File& file) {
  // A device (/dev/null, a terminal) has nothing to sync: the kernel would answer EINVAL.
  if (!file.regular) return 0;
  if (options_.fdatasync_for_testing) return options_.fdatasync_for_testing(file.fd);
  return fdatasync(file.fd);
}

timespec AuditLog::Now() const {
  if (options_.clock_for_testing) return options_.clock_for_testing();
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return now;
}

absl::Status AuditLog::RotateLocked() {
  // The old file must be durable before the name moves, or a crash could leave a rotated file
  // shorter than the chain that continues in the new one.
  if (DoFdatasync(*file_) != 0) {
    return absl::DataLossError(absl::StrCat(
        "audit log ", options_.path, ": fdatasync before rotation failed: ", strerror(errno)));
  }
  const std::string rotated = LogFiles::RotatedName(options_.path, file_first_seq_);
  if (renameat2(AT_FDCWD, options_.path.c_str(), AT_FDCWD, rotated.c_str(), RENAME_NOREPLACE) !=
      0) {
    return absl::UnavailableError(
        absl::StrCat("audit log rotation ", options_.path, " -> ", rotated, ": ", strerror(errno)));
  }
  const int fd = open(options_.path.c_str(),
                      O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("audit log ", options_.path, ": create after rotation: ", strerror(errno)));
  }
  auto file = std::make_shared<File>();
  file->fd = fd;
  (void)flock(fd, LOCK_EX | LOCK_NB);
  if (absl::Status s = LogFiles::SyncDirectory(options_.path); !s.ok()) return s;
  file_ = std::move(file);
  file_bytes_ = 0;
  file_first_seq_ = 0;
  file_started_ = absl::TimeFromTimespec(Now());
  return absl::OkStatus();
}

absl::Status AuditLog::Append(const AuditRecord& record) {
  return AppendAndGetSeq(record).status();
}

bool AuditLog::RotationDueLocked(uint64_t next_record_bytes) const {
  if (file_first_seq_ == 0) return false;  // never rotate an empty file
  if (options_.rotate_bytes != 0 && file_bytes_ + next_record_bytes > options_.rotate_bytes) {
    return true;
  }
  return options_.rotate_age > absl::ZeroDuration() &&
         absl::TimeFromTimespec(Now()) - file_started_ >= options_.rotate_age;
}

size_t AuditLog::FittingBytesLocked(std::string_view records) const {
  if (options_.rotate_bytes == 0 || file_bytes_ + records.size() <= options_.rotate_bytes) {
    return records.size();
  }
  const uint64_t room =
      options_.rotate_bytes > file_bytes_ ? options_.rotate_bytes - file_bytes_ : 0;
  // The last record boundary within the room; a first record larger than rotate_bytes still
  // goes in (alone, into an empty file: RotationDueLocked rotated a non-empty one first).
  const size_t last_nl = room == 0 ? std::string_view::npos : records.rfind('\n', room - 1);
  return last_nl != std::string_view::npos ? last_nl + 1 : records.find('\n') + 1;
}

absl::Status AuditLog::WriteBatchLocked() {
  std::string batch;
  batch.swap(pending_);
  uint64_t next = pending_first_seq_;  // seq of the first record not yet written
  const uint64_t last = pending_last_seq_;
  size_t done = 0;
  absl::Status status;
  // A size limit is kept exactly: the batch is split at the record that would take the file
  // over rotate_bytes, and that record starts the next file.
  while (done < batch.size()) {
    const std::string_view rest = std::string_view(batch).substr(done);
    if (RotationDueLocked(rest.find('\n') + 1)) {
      if (absl::Status s = RotateLocked(); !s.ok()) {
        status = FailLocked(s);
        break;
      }
    }
    const size_t length = FittingBytesLocked(rest);
    const uint64_t records = length == rest.size()
                                 ? last - next + 1
                                 : std::count(rest.begin(), rest.begin() + length, '\n');
    const std::shared_ptr<File> file = file_;
    const uint64_t offset = file_bytes_;
    // The write runs without the lock so other threads can format the next batch meanwhile;
    // only the leader (writer_active_) touches the file, so batches stay in seq order.
    mu_.Unlock();
    size_t written = 0;
    int e = 0;
    while (written < length) {
      const ssize_t n = write(file->fd, rest.data() + written, length - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        e = n < 0 ? errno : ENOSPC;
        // Never leave part of a record behind: the next record must start on a line boundary.
        // If even that fails, Open cuts the torn tail and reports audit.recovered.
        if (written > 0) (void)ftruncate(file->fd, offset);
        break;
      }
      written += n;
    }
    mu_.Lock();
    if (e != 0) {
      const absl::StatusCode code = (e == ENOSPC || e == EDQUOT || e == EFBIG)
                                        ? absl::StatusCode::kResourceExhausted
                                        : absl::StatusCode::kDataLoss;
      status = FailLocked(
          absl::Status(code, absl::StrCat("audit log ", options_.path, ": write of records seq ",
                                          next, "..", last, " failed: ", strerror(e))));
      break;
    }
    file_bytes_ += length;
    if (file_first_seq_ == 0) file_first_seq_ = next;
    next += records;
    done += length;
    written_seq_.store(next - 1, std::memory_order_release);
  }
  // Give the buffer back so its capacity is reused.
  if (pending_.empty()) {
    batch.clear();
    pending_.swap(batch);
  }
  return status;
}

absl::StatusOr<uint64_t> AuditLog::AppendAndGetSeq(const AuditRecord& record) {
  if (!record.status().ok()) return record.status();
  uint64_t seq;
  absl::Status failed;
  {
    absl::MutexLock l(&mu_);
    if (!failed_.ok()) return failed_;
    const timespec now_ts = Now();
    seq = next_seq_;
    // Format straight into the pending batch; roll back if the record is over the cap.
    std::string& line = pending_;
    const size_t start = line.size();
    absl::StrAppend(&line, "{\"seq\":", seq, ",\"ts\":\"");
    RecordLine::AppendTimestamp(&line, now_ts.tv_sec, now_ts.tv_nsec);
    line.append("\",\"type\":");
    AppendJsonString(&line, record.type());
    absl::StrAppend(&line, ",\"launcher_pid\":", launcher_pid_);
    record.AppendPluginAndDecisionJson(&line);
    record.AppendFieldsJson(&line);
    line.append(",\"prev\":\"");
    line.append(prev_hash_);
    line.push_back('"');
    char hash[ChainHasher::kHexLength];
    if (line.size() - start + RecordLine::kHashSuffixLength + 1 > RecordLine::kMaxLineBytes) {
      const size_t size = line.size() - start + RecordLine::kHashSuffixLength + 1;
      line.resize(start);
      return absl::InvalidArgumentError(
          absl::StrCat("audit record '", ToAbsl(record.type()), "' is ", size, " bytes, over the ",
                       RecordLine::kMaxLineBytes, " byte cap; record fewer or shorter fields"));
    }
    if (absl::Status s = hasher_->HashHex(std::string_view(line).substr(start), hash); !s.ok()) {
      line.resize(start);
      return s;
    }
    line.append(",\"hash\":\"");
    line.append(hash, sizeof hash);
    line.append("\"}\n");
    if (start == 0) pending_first_seq_ = seq;
    pending_last_seq_ = seq;
    prev_hash_.assign(hash, sizeof hash);
    next_seq_ = seq + 1;

    // Group write: one thread at a time writes everything pending in one write(2); the
    // others wait for it. A thread returns only once its own record is written.
    struct Wait {
      AuditLog* log;
      uint64_t seq;
    } wait{this, seq};
    const absl::Condition progress(
        +[](Wait* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return w->log->written_seq_.load(std::memory_order_relaxed) >= w->seq ||
                 !w->log->failed_.ok() || !w->log->writer_active_;
        },
        &wait);
    while (written_seq_.load(std::memory_order_relaxed) < seq) {
      if (!failed_.ok()) break;
      if (!writer_active_) {
        writer_active_ = true;
        (void)WriteBatchLocked();
        writer_active_ = false;
        continue;
      }
      mu_.Await(progress);
    }
    if (written_seq_.load(std::memory_order_relaxed) < seq) {
      failed = failed_;
      if (failure_notified_) return failed;
    }
  }
  if (!failed.ok()) {
    NotifyFailure(failed);
    return failed;
  }
  if (options_.durability == Durability::kSync) {
    if (absl::Status s = SyncUpTo(seq); !s.ok()) return s;
  }
  return seq;
}

absl::Status AuditLog::SyncUpTo(uint64_t seq) {
  absl::MutexLock sl(&sync_mu_);
  // Group commit: whoever holds sync_mu_ syncs everything written so far, so appenders that
  // queued behind it usually find their record already durable.
  if (synced_seq_ >= seq) return absl::OkStatus();
  std::shared_ptr<File> file;
  uint64_t target;
  {
    absl::MutexLock l(&mu_);
    if (!failed_.ok()) return failed_;
    file = file_;
    target = written_seq_.load(std::memory_order_acquire);
  }
  if (DoFdatasync(*file) != 0) {
    const int e = errno;
    // After a failed fsync the kernel may have dropped the dirty pages: nothing written since
    // the last good sync can be trusted, so the log stops for good.
    absl::Status f;
    {
      absl::MutexLock l(&mu_);
      f = FailLocked(absl::DataLossError(
          absl::StrCat("audit log ", options_.path, ": fdatasync failed: ", strerror(e))));
    }
    NotifyFailure(f);
    return f;
  }
  synced_seq_ = target;
  return absl::OkStatus();
}

absl::Status AuditLog::Flush() {
  const uint64_t seq = written_seq_.load(std::memory_order_acquire);
  {
    absl::MutexLock l(&mu_);
    if (!failed_.ok()) return failed_;
  }
  if (seq == 0) return absl::OkStatus();
  return SyncUpTo(seq);
}

void AuditLog::FlusherLoop() {
  absl::MutexLock l(&stop_mu_);
  while (!stop_) {
    // Timed wait is the batch timer itself, not synchronisation: stop_ wakes it at once.
    stop_mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.batch_interval);
    if (stop_) break;
    stop_mu_.Unlock();
    (void)Flush();
    stop_mu_.Lock();
  }
}

}  // namespace cordon::audit
