#include "audit/audit_log.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "audit/audit_verifier.h"
#include "audit/json_escape.h"
#include "audit/log_files.h"
#include "audit/record_line.h"
#include "audit/testing/audit_log_test_util.h"
#include "audit/testing/audit_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

using ::cordon::audit::testing::AllFiles;
using ::cordon::audit::testing::Lines;
using ::cordon::audit::testing::ReadFile;
using ::cordon::audit::testing::ReadRecords;
using ::cordon::audit::testing::Rec;
using ::cordon::audit::testing::TempDir;
using ::cordon::audit::testing::VerifyAll;
using ::cordon::audit::testing::WriteFile;
using ::testing::HasSubstr;

// Every rotated file holds as many whole records as fit in rotate_bytes and no more: the
// record that would take it over starts the next file. A record larger than rotate_bytes gets
// a file to itself.
void ExpectFilesWithinRotateBytes(const std::string& path, uint64_t rotate_bytes) {
  const std::vector<std::string> files = AllFiles(path);
  for (size_t i = 0; i + 1 < files.size(); ++i) {
    const std::string text = ReadFile(files[i]);
    const std::vector<std::string> lines = Lines(text);
    ASSERT_FALSE(lines.empty()) << files[i];
    if (lines.size() > 1) {
      EXPECT_LE(text.size(), rotate_bytes) << files[i];
    }
    const std::vector<std::string> next = Lines(ReadFile(files[i + 1]));
    ASSERT_FALSE(next.empty()) << files[i + 1];
    EXPECT_GT(text.size() + next.front().size() + 1, rotate_bytes)
        << files[i] << " was rotated although the next record fitted";
  }
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
  EXPECT_TRUE(VerifyAll(o.path).ok);
}

// Sets TZ for the life of the object: a formatter using local time would show.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* tz) {
    if (const char* old = getenv("TZ"); old != nullptr) old_ = old;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ScopedTimeZone() {
    if (old_.has_value()) {
      setenv("TZ", old_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::optional<std::string> old_;
};

// `ts` is the clock's time in UTC, whatever the local zone, to the nanosecond, zero-padded.
TEST(AuditLogTest, TimestampIsTheClockInUtcToTheNanosecond) {
  TempDir dir;
  const std::vector<std::pair<timespec, std::string>> cases = {
      {{1767323045, 5}, "2026-01-02T03:04:05.000000005Z"},
      {{1767323045, 999999999}, "2026-01-02T03:04:05.999999999Z"},
      {{0, 0}, "1970-01-01T00:00:00.000000000Z"},
      {{4102444799, 123456789}, "2099-12-31T23:59:59.123456789Z"},
  };
  size_t now = 0;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.clock_for_testing = [&] { return cases[now].first; };
  ScopedTimeZone tz("Asia/Kolkata");  // UTC+05:30
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok()) << log.status();
    for (now = 0; now < cases.size(); ++now) ASSERT_TRUE((*log)->Append(Rec(1)).ok());
  }
  auto recs = ReadRecords(o.path);
  ASSERT_EQ(recs.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(recs[i].ts, cases[i].second);

  // Without the seam: the real-time clock, between the times read around the append.
  AuditLogOptions real;
  real.path = dir.File("real.jsonl");
  auto log = AuditLog::Open(real);
  ASSERT_TRUE(log.ok()) << log.status();
  const absl::Time before = absl::Now();
  ASSERT_TRUE((*log)->Append(Rec(1)).ok());
  const absl::Time after = absl::Now();
  auto rec = RecordLine::Parse(Lines(ReadFile(real.path)).at(0));
  ASSERT_TRUE(rec.ok()) << rec.status();
  absl::StatusOr<absl::Time> ts = RecordLine::ParseTimestamp(rec->ts);
  ASSERT_TRUE(ts.ok()) << ts.status();
  EXPECT_GE(*ts, before) << rec->ts;
  EXPECT_LE(*ts, after) << rec->ts;
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
  // Concurrent appenders write batches of several records: a batch is split where the file
  // is full.
  ExpectFilesWithinRotateBytes(o.path, o.rotate_bytes);
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

TEST(AuditLogTest, RotationKeepsFilesWithinRotateBytes) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("audit.jsonl");
  o.rotate_bytes = 1000;
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 30; ++i) ASSERT_TRUE((*log)->Append(Rec(i)).ok());
    AuditRecord big("capability.use");
    big.Set("path", std::string(1500, 'b'));
    ASSERT_TRUE((*log)->Append(big).ok());
    for (int i = 0; i < 30; ++i) ASSERT_TRUE((*log)->Append(Rec(i)).ok());
  }
  ASSERT_GT(AllFiles(o.path).size(), 5u);
  ExpectFilesWithinRotateBytes(o.path, o.rotate_bytes);
  auto v = VerifyAll(o.path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 61u);
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
    // No field was forged: the envelope, plugin, detail, argv (+ detail_hex and argv_hex for
    // bad UTF-8).
    EXPECT_EQ(recs[i].json.object().size(), IsValidUtf8(evil[i]) ? 9u : 11u) << text;
    const JsonValue* plugin = recs[i].json.Find("plugin");
    ASSERT_NE(plugin, nullptr);
    if (IsValidUtf8(evil[i])) {
      EXPECT_EQ(recs[i].json.Find("detail")->string_value(), evil[i]);
      EXPECT_EQ(recs[i].json.Find("argv")->array().at(1).string_value(), evil[i]);
      EXPECT_EQ(plugin->Find("name")->string_value(), evil[i]);
      EXPECT_EQ(plugin->object().size(), 3u);
    } else {
      // The exact bytes survive in the hex siblings, of the strings, the argv items and the
      // plugin's id, name and version alike.
      const std::string hex = HexEncode(evil[i]);
      EXPECT_EQ(recs[i].json.Find("detail_hex")->string_value(), hex);
      ASSERT_EQ(recs[i].json.Find("argv_hex")->array().size(), 2u);
      EXPECT_EQ(recs[i].json.Find("argv_hex")->array()[1].string_value(), hex);
      for (const char* key : {"id_hex", "name_hex", "version_hex"}) {
        ASSERT_NE(plugin->Find(key), nullptr) << key;
        EXPECT_EQ(plugin->Find(key)->string_value(), hex) << key;
      }
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
