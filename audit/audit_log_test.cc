#include "audit/audit_log.h"

#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/audit_verifier.h"
#include "audit/json_escape.h"
#include "audit/log_files.h"
#include "audit/record_line.h"
#include "audit/testing/audit_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

using ::cordon::audit::testing::Lines;
using ::cordon::audit::testing::ReadFile;
using ::cordon::audit::testing::TempDir;
using ::cordon::audit::testing::WriteFile;
using ::testing::HasSubstr;

AuditRecord Rec(int i) {
  AuditRecord r("capability.use");
  r.SetPlugin("p1", "demo", "1.0").SetDecision(i % 3 == 0 ? "deny" : "allow");
  r.Set("capability", "fs.open").Set("path", absl::StrCat("/data/f", i)).Set("i", i);
  return r;
}

std::vector<std::string> AllFiles(const std::string& path) {
  std::vector<std::string> files;
  auto rotated = LogFiles::ListRotated(path);
  EXPECT_TRUE(rotated.ok());
  for (const auto& r : *rotated) files.push_back(r.path);
  files.push_back(path);
  return files;
}

VerifyResult VerifyAll(const std::string& path, const std::string& key_file = "") {
  VerifyOptions vo;
  vo.hmac_key_file = key_file;
  auto r = AuditVerifier::Verify(AllFiles(path), vo);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : VerifyResult();
}

std::vector<ParsedRecord> ReadRecords(const std::string& path) {
  std::vector<ParsedRecord> out;
  for (const std::string& f : AllFiles(path)) {
    for (const std::string& line : Lines(ReadFile(f))) {
      auto r = RecordLine::Parse(line);
      EXPECT_TRUE(r.ok()) << r.status() << ": " << line;
      if (r.ok()) out.push_back(*r);
    }
  }
  return out;
}

TEST(AuditLogTest, AppendsChainedRecordsWithEnvelope) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Rec(i)).ok());
    EXPECT_EQ((*log)->last_seq(), 3u);
    EXPECT_EQ((*log)->on_failure(), OnWriteFailure::kKillPlugins);
  }
  auto recs = ReadRecords(o.path);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].seq, 1u);
  EXPECT_EQ(recs[0].prev, std::string(64, '0'));
  EXPECT_EQ(recs[1].prev, recs[0].hash);
  EXPECT_EQ(recs[0].decision, "deny");
  EXPECT_EQ(recs[0].plugin_name, "demo");
  EXPECT_EQ(recs[2].json.Find("launcher_pid")->string_value(), absl::StrCat(getpid()));
  EXPECT_EQ(recs[0].ts.size(), 30u);  // 2026-01-02T03:04:05.123456789Z
  EXPECT_EQ(recs[0].ts.back(), 'Z');
  EXPECT_TRUE(VerifyAll(o.path).ok);
}

TEST(AuditLogTest, ReopenContinuesSeqAndChain) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  for (int round = 0; round < 3; ++round) {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 4; ++i) ASSERT_TRUE((*log)->Append(Rec(i)).ok());
  }
  auto v = VerifyAll(o.path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.last_seq, 12u);
}

TEST(AuditLogTest, SecondWriterIsRefused) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  auto a = AuditLog::Open(o);
  ASSERT_TRUE(a.ok());
  auto b = AuditLog::Open(o);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("locked"));
}

TEST(AuditLogTest, MisbuiltRecordRejectedWithoutConsumingSeq) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->Append(AuditRecord("x").Set("seq", 5)).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*log)->Append(Rec(1)).ok());
  EXPECT_EQ((*log)->last_seq(), 1u);
  std::string huge(5000, 'x');
  AuditRecord big("x");
  for (int i = 0; i < 20; ++i) big.Set(absl::StrCat("k", i), huge);
  EXPECT_EQ((*log)->Append(big).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*log)->Append(Rec(2)).ok());
  EXPECT_TRUE((*log)->failure().ok());
}

class TornTailTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TornTailTest, TornRecordIsCutAndReported) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*log)->Append(Rec(i)).ok());
  }
  const std::string good = ReadFile(o.path);
  WriteFile(o.path, good + GetParam());
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Rec(6)).ok());
  }
  const std::string after = ReadFile(o.path);
  EXPECT_EQ(after.substr(0, good.size()), good);
  auto recs = ReadRecords(o.path);
  ASSERT_EQ(recs.size(), 7u);
  EXPECT_EQ(recs[5].type, "audit.recovered");
  EXPECT_EQ(recs[5].seq, 6u);
  EXPECT_EQ(recs[5].json.Find("torn_bytes")->string_value(), absl::StrCat(GetParam().size()));
  EXPECT_EQ(recs[5].json.Find("offset")->string_value(), absl::StrCat(good.size()));
  EXPECT_EQ(recs[5].json.Find("last_seq")->string_value(), "5");
  auto v = VerifyAll(o.path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.notes.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Tails, TornTailTest,
                         ::testing::Values(std::string("{\"seq\":6,\"ts\":\"2026"),
                                           std::string(300, '\0'), std::string("{")));

TEST(AuditLogTest, EditedLastRecordRefusesToContinue) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Rec(i)).ok());
  }
  std::string text = ReadFile(o.path);
  const size_t pos = text.rfind("\"allow\"");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 7, "\"alloW\"");
  WriteFile(o.path, text);
  auto log = AuditLog::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
}

TEST(AuditLogTest, SyncModeConcurrentAppendsShareFdatasync) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.durability = Durability::kSync;
  std::atomic<int> syncs{0};
  o.fdatasync_for_testing = [&](int fd) {
    ++syncs;
    return fdatasync(fd);
  };
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) EXPECT_TRUE((*log)->Append(Rec(t * 1000 + i)).ok());
      });
    }
    for (auto& th : threads) th.join();
  }
  EXPECT_GE(syncs.load(), 1);
  EXPECT_LE(syncs.load(), 201);  // at most one per record (+ close)
  auto v = VerifyAll(o.path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 200u);
}

TEST(AuditLogTest, HmacKeyedChain) {
  TempDir dir;
  const std::string key = dir.File("key");
  const std::string other = dir.File("other");
  WriteFile(key, "0123456789abcdef0123456789abcdef\n");
  WriteFile(other, "fedcba9876543210fedcba9876543210\n");
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.hmac_key_file = key;
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Rec(i)).ok());
  }
  EXPECT_TRUE(VerifyAll(o.path, key).ok);
  EXPECT_FALSE(VerifyAll(o.path).ok);
  EXPECT_FALSE(VerifyAll(o.path, other).ok);
  AuditLogOptions wrong = o;
  wrong.hmac_key_file = other;
  EXPECT_FALSE(AuditLog::Open(wrong).ok());
  WriteFile(dir.File("short"), "short");
  wrong.hmac_key_file = dir.File("short");
  EXPECT_EQ(AuditLog::Open(wrong).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AuditLogTest, RotationUnderConcurrentWritersLosesNothing) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.rotate_bytes = 16 * 1024;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          AuditRecord r("plugin.ready");
          r.Set("writer", t).Set("i", i);
          ASSERT_TRUE((*log)->Append(r).ok());
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  auto files = AllFiles(o.path);
  EXPECT_GT(files.size(), 20u);
  auto v = VerifyAll(o.path);
  ASSERT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, uint64_t{kThreads * kPerThread});
  std::set<std::pair<std::string, std::string>> seen;
  for (const ParsedRecord& r : ReadRecords(o.path)) {
    EXPECT_TRUE(
        seen.emplace(r.json.Find("writer")->string_value(), r.json.Find("i")->string_value())
            .second);
  }
  EXPECT_EQ(seen.size(), size_t{kThreads * kPerThread});
  // Rotated names carry the first seq of their file.
  auto rotated = LogFiles::ListRotated(o.path);
  ASSERT_TRUE(rotated.ok());
  for (const auto& f : *rotated) {
    auto first = RecordLine::Parse(Lines(ReadFile(f.path)).front());
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->seq, f.first_seq);
  }
}

TEST(AuditLogTest, RotationByAge) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.rotate_age = absl::Nanoseconds(1);  // every record starts a new file
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*log)->Append(Rec(i)).ok());
  }
  EXPECT_EQ(AllFiles(o.path).size(), 5u);
  auto v = VerifyAll(o.path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 5u);
}

TEST(AuditLogTest, CrashBetweenRenameAndCreateContinuesChain) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Rec(i)).ok());
  }
  ASSERT_EQ(rename(o.path.c_str(), LogFiles::RotatedName(o.path, 1).c_str()), 0);
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Rec(4)).ok());
    EXPECT_EQ((*log)->last_seq(), 4u);
  }
  auto v = VerifyAll(o.path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 4u);
}

TEST(AuditLogTest, FailedFsyncIsFatalAndReported) {
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

TEST(AuditLogTest, DiskFullFailsClosed) {
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

TEST(AuditLogTest, SigkillLosesNoAcknowledgedRecord) {
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

TEST(AuditLogTest, InjectionStringsStayInert) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  const std::vector<std::string> evil = {
      "a\nb",
      "x\"}\n{\"seq\":1,\"type\":\"plugin.start\",\"decision\":\"allow\"}",
      "\r\x1b[2K\x1b[1Afake line",
      std::string("nul\0byte", 8),
      "\xff\xfe invalid",
      "\xe2\x80\xa8 ls",
      "\\\"},\"decision\":\"allow",
      "\",\"hash\":\"" + std::string(64, 'a') + "\"}",
  };
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    for (const std::string& s : evil) {
      AuditRecord r("protocol.violation");
      r.SetPlugin(s, s, s).Set("detail", s).SetStrings("argv", {s, s});
      ASSERT_TRUE((*log)->Append(r).ok());
    }
  }
  const std::string text = ReadFile(o.path);
  EXPECT_EQ(Lines(text).size(), evil.size());
  auto recs = ReadRecords(o.path);
  ASSERT_EQ(recs.size(), evil.size());
  for (size_t i = 0; i < evil.size(); ++i) {
    EXPECT_EQ(recs[i].type, "protocol.violation");
    EXPECT_EQ(recs[i].decision, "");
    // No field was forged: the envelope, plugin, detail, argv (+ detail_hex for bad UTF-8).
    EXPECT_EQ(recs[i].json.object().size(), IsValidUtf8(evil[i]) ? 9u : 10u) << text;
    if (IsValidUtf8(evil[i])) {
      EXPECT_EQ(recs[i].json.Find("detail")->string_value(), evil[i]);
    }
  }
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u == '\n' || (u >= 0x20 && u != 0x7f));
  }
  EXPECT_TRUE(VerifyAll(o.path).ok);
}

}  // namespace
}  // namespace cordon::audit
