// AuditLog durability: the batch flusher, group commit in sync mode, failed writes and syncs,
// and a SIGKILL mid-stream. The format, chain, rotation and recovery are in audit_log_test.cc.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "audit/audit_log.h"
#include "audit/record_line.h"
#include "audit/testing/audit_log_test_util.h"
#include "audit/testing/audit_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

using ::cordon::audit::testing::Lines;
using ::cordon::audit::testing::ReadFile;
using ::cordon::audit::testing::ReadRecords;
using ::cordon::audit::testing::Rec;
using ::cordon::audit::testing::TempDir;
using ::cordon::audit::testing::VerifyAll;
using ::testing::HasSubstr;

// A fake fdatasync(2) that counts calls, notes when each returned, and lets a test wait for
// a count, or hold the first call until it allows it to go on.
class SyncProbe {
 public:
  // For AuditLogOptions::fdatasync_for_testing; this object must outlive the log.
  std::function<int(int)> Hook() {
    return [this](int fd) {
      std::unique_lock<std::mutex> l(mu_);
      const bool first = calls_ == 0;
      ++calls_;
      cv_.notify_all();
      if (first && hold_first_) cv_.wait(l, [&] { return released_; });
      l.unlock();
      const int r = fdatasync(fd);
      l.lock();
      last_return_ = absl::Now();
      ++returned_;
      cv_.notify_all();
      return r;
    };
  }
  void HoldFirst() { hold_first_ = true; }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  // Waits until `n` calls have returned (false after `limit`, the test's safety net); the
  // time the n-th returned.
  bool WaitReturned(int n, absl::Duration limit, absl::Time* at) {
    std::unique_lock<std::mutex> l(mu_);
    const bool ok = cv_.wait_for(l, absl::ToChronoSeconds(limit), [&] { return returned_ >= n; });
    if (ok && at != nullptr) *at = last_return_;
    return ok;
  }
  bool WaitCalled(int n, absl::Duration limit) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, absl::ToChronoSeconds(limit), [&] { return calls_ >= n; });
  }
  int calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;
  int returned_ = 0;
  absl::Time last_return_;
  bool hold_first_ = false;
  bool released_ = false;
};

// Batch mode: an acknowledged record is fdatasync'ed by the background flusher within
// batch_interval, while the log stays open (not by the destructor's final flush, not by a
// later Append). Fails if the flusher is gone or ignores its interval.
TEST(AuditLogDurabilityTest, BatchFlusherSyncsWithinTheIntervalByItself) {
  TempDir dir;
  SyncProbe probe;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.batch_interval = absl::Milliseconds(250);
  o.fdatasync_for_testing = probe.Hook();
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int round = 1; round <= 3; ++round) {
    ASSERT_TRUE((*log)->Append(Rec(round)).ok());
    const absl::Time acked = absl::Now();
    absl::Time synced;
    // The wait ends as soon as the sync happens; the limit only keeps a broken flusher from
    // hanging the test.
    ASSERT_TRUE(probe.WaitReturned(round, absl::Seconds(30), &synced))
        << "no fdatasync within 30 s of an acknowledged record (round " << round << ")";
    // One interval, plus slack for a loaded, shared machine to schedule the flusher; a
    // flusher that waited 10x its interval would fail here.
    EXPECT_LE(synced - acked, o.batch_interval + absl::Milliseconds(1250)) << "round " << round;
  }
  // Nothing new: an idle flusher does not sync again.
  EXPECT_EQ(probe.calls(), 3);
}

// Sync mode: appenders that wait while an fdatasync runs share the next one. The first sync
// is held until every other appender's record is in the file, so the others are all covered
// by at most two more syncs (the second may miss only the batch whose write had not been
// noted yet; the third then covers it). Syncing each record alone would take kThreads syncs.
TEST(AuditLogDurabilityTest, SyncModeAppendersShareFdatasync) {
  TempDir dir;
  SyncProbe probe;
  probe.HoldFirst();
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.durability = Durability::kSync;
  o.fdatasync_for_testing = probe.Hook();
  constexpr int kThreads = 8;
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  const int watch = inotify_init1(IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  absl::Cleanup close_watch = [watch] { close(watch); };
  ASSERT_GE(inotify_add_watch(watch, o.path.c_str(), IN_MODIFY), 0);
  std::vector<std::thread> threads;
  // The first appender's sync is held...
  threads.emplace_back([&] { EXPECT_TRUE((*log)->Append(Rec(0)).ok()); });
  ASSERT_TRUE(probe.WaitCalled(1, absl::Seconds(30)));
  // ... while the others write their records and queue for a sync.
  for (int t = 1; t < kThreads; ++t) {
    threads.emplace_back([&, t] { EXPECT_TRUE((*log)->Append(Rec(t)).ok()); });
  }
  // Each append writes its record before it waits for a sync, so all of them get into the
  // file while the first sync is held. Woken by every write; the poll limit is a safety net.
  while (Lines(ReadFile(o.path)).size() < size_t{kThreads}) {
    pollfd p{watch, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 30000), 1) << "records were not written";
    char events[4096];
    (void)!read(watch, events, sizeof events);
  }
  probe.Release();
  for (auto& th : threads) th.join();
  const int syncs = probe.calls();  // before the destructor's own flush
  EXPECT_GE(syncs, 2);
  EXPECT_LE(syncs, 3) << "appenders did not share fdatasync";
  log->reset();
  auto v = VerifyAll(o.path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, uint64_t{kThreads});
}

// /dev/null (or another device) as the log: records are written and never synced (the kernel
// answers fdatasync there with EINVAL, which is not a failure of the log), two logs may share
// it, and rotation, which would rename it, is refused at open.
TEST(AuditLogDurabilityTest, DeviceLogIsWrittenUnsyncedUnlockedAndNeverRotated) {
  AuditLogOptions o;
  o.path = "/dev/null";
  o.durability = Durability::kSync;
  bool failed = false;
  o.on_failure_callback = [&](const absl::Status&, OnWriteFailure) { failed = true; };
  auto first = AuditLog::Open(o);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = AuditLog::Open(o);
  ASSERT_TRUE(second.ok()) << second.status();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE((*first)->Append(Rec(i)).ok());
    EXPECT_TRUE((*second)->Append(Rec(i)).ok());
  }
  EXPECT_TRUE((*first)->Flush().ok());
  EXPECT_FALSE(failed);
  o.rotate_bytes = 4096;
  auto rotating = AuditLog::Open(o);
  ASSERT_FALSE(rotating.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(rotating.status())) << rotating.status();
  EXPECT_THAT(rotating.status().message(), HasSubstr("cannot be rotated"));
  struct stat st;
  ASSERT_EQ(stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(AuditLogDurabilityTest, FailedFsyncIsFatalAndReported) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.durability = Durability::kSync;
  o.on_failure = OnWriteFailure::kStopLauncher;
  std::atomic<bool> fail{false};
  o.fdatasync_for_testing = [&](int fd) {
    if (fail) {
      errno = EIO;
      return -1;
    }
    return fdatasync(fd);
  };
  int callbacks = 0;
  OnWriteFailure reported = OnWriteFailure::kDenyRequests;
  o.on_failure_callback = [&](const absl::Status&, OnWriteFailure p) {
    ++callbacks;
    reported = p;
  };
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Rec(1)).ok());
  fail = true;
  absl::Status s = (*log)->Append(Rec(2));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("stop-launcher"));
  fail = false;  // even a recovered disk does not un-fail the log
  EXPECT_FALSE((*log)->Append(Rec(3)).ok());
  EXPECT_FALSE((*log)->Flush().ok());
  EXPECT_FALSE((*log)->failure().ok());
  EXPECT_EQ(callbacks, 1);
  EXPECT_EQ(reported, OnWriteFailure::kStopLauncher);
}

// Mounts a tiny tmpfs for the life of the object.
class TinyTmpfs {
 public:
  explicit TinyTmpfs(const std::string& dir) : dir_(dir) {
    ok_ = mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700") == 0;
    errno_ = errno;
  }
  ~TinyTmpfs() {
    if (ok_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool ok() const { return ok_; }
  int error() const { return errno_; }

 private:
  std::string dir_;
  bool ok_;
  int errno_;
};

TEST(AuditLogDurabilityTest, DiskFullFailsClosed) {
  TempDir dir;
  TinyTmpfs fs(dir.path());
  if (!fs.ok() && fs.error() == EPERM) GTEST_SKIP() << "needs root to mount a tmpfs";
  ASSERT_TRUE(fs.ok()) << strerror(fs.error());
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.on_failure = OnWriteFailure::kDenyRequests;
  absl::Status reported;
  int callbacks = 0;
  o.on_failure_callback = [&](const absl::Status& s, OnWriteFailure p) {
    ++callbacks;
    reported = s;
    EXPECT_EQ(p, OnWriteFailure::kDenyRequests);
  };
  uint64_t acked = 0;
  absl::Status err;
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok()) << log.status();
    AuditRecord r("capability.use");
    r.Set("path", std::string(700, 'p'));
    for (int i = 0; i < 100000; ++i) {
      absl::StatusOr<uint64_t> seq = (*log)->AppendAndGetSeq(r);
      if (!seq.ok()) {
        err = seq.status();
        break;
      }
      acked = *seq;
    }
    ASSERT_FALSE(err.ok()) << "a 64 KiB tmpfs never filled up";
    EXPECT_EQ(err.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(std::string(err.message()), HasSubstr("deny-requests"));
    EXPECT_THAT(std::string(err.message()), HasSubstr("No space left"));
    EXPECT_FALSE((*log)->Append(AuditRecord("x")).ok());  // sticky: nothing slips through
    EXPECT_EQ((*log)->on_failure(), OnWriteFailure::kDenyRequests);
  }
  EXPECT_EQ(callbacks, 1);
  EXPECT_EQ(reported, err);
  EXPECT_GT(acked, 10u);
  // Every acknowledged record is there, and no partial record was left behind.
  auto v = VerifyAll(o.path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.last_seq, acked);
}

TEST(AuditLogDurabilityTest, SigkillLosesNoAcknowledgedRecord) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.rotate_bytes = 256 * 1024;  // rotation in the middle of the stream, too
  int pipefd[2];
  ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipefd[0]);
    auto log = AuditLog::Open(o);
    if (!log.ok()) _exit(3);
    for (int i = 0; i < 10000000; ++i) {
      absl::StatusOr<uint64_t> seq = (*log)->AppendAndGetSeq(Rec(i));
      if (!seq.ok()) _exit(4);
      if (write(pipefd[1], &*seq, sizeof *seq) != sizeof *seq) _exit(5);
    }
    _exit(6);
  }
  close(pipefd[1]);
  uint64_t max_acked = 0;
  uint64_t count = 0;
  uint64_t seq;
  while (count < 5000 && read(pipefd[0], &seq, sizeof seq) == sizeof seq) {
    max_acked = std::max(max_acked, seq);
    ++count;
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  while (read(pipefd[0], &seq, sizeof seq) == sizeof seq) max_acked = std::max(max_acked, seq);
  close(pipefd[0]);
  ASSERT_GE(max_acked, 5000u);
  {
    auto log = AuditLog::Open(o);  // recovers a torn tail, if any
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_GE((*log)->last_seq(), max_acked);
  }
  auto v = VerifyAll(o.path);
  ASSERT_TRUE(v.ok) << v.problem;
  EXPECT_GE(v.last_seq, max_acked);
  std::set<uint64_t> seqs;
  for (const ParsedRecord& r : ReadRecords(o.path)) seqs.insert(r.seq);
  for (uint64_t s = 1; s <= max_acked; ++s) ASSERT_TRUE(seqs.count(s)) << "lost seq " << s;
}

}  // namespace
}  // namespace cordon::audit
