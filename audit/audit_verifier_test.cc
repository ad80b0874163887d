#include "audit/audit_verifier.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/audit_log.h"
#include "audit/chain_hasher.h"
#include "audit/log_files.h"
#include "audit/record_line.h"
#include "audit/testing/audit_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

using ::cordon::audit::testing::JoinLines;
using ::cordon::audit::testing::Lines;
using ::cordon::audit::testing::ReadFile;
using ::cordon::audit::testing::TempDir;
using ::cordon::audit::testing::WriteFile;
using ::testing::HasSubstr;

class AuditVerifierTest : public ::testing::Test {
 protected:
  // Writes a 10-record log and returns its lines.
  std::vector<std::string> MakeLog(const std::string& path, uint64_t rotate_bytes = 0) {
    AuditLogOptions o;
    o.path = path;
    o.rotate_bytes = rotate_bytes;
    auto log = AuditLog::Open(o);
    EXPECT_TRUE(log.ok()) << log.status();
    for (int i = 1; i <= 10; ++i) {
      AuditRecord r("seccomp.violation");
      r.SetPlugin("p", "demo", "1").SetDecision("deny").Set("syscall", "ptrace").Set("nr", 101);
      r.Set("i", i);
      EXPECT_TRUE((*log)->Append(r).ok());
    }
    return Lines(ReadFile(path));
  }

  VerifyResult Check(const std::vector<std::string>& files, VerifyOptions vo = {}) {
    auto r = AuditVerifier::Verify(files, vo);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : VerifyResult();
  }

  VerifyResult CheckLines(const std::vector<std::string>& lines, VerifyOptions vo = {}) {
    WriteFile(file_, JoinLines(lines));
    return Check({file_}, vo);
  }

  // Replaces a record's stored hash with the right one for its (edited) content, as an
  // attacker without the HMAC key can do for a plain SHA-256 chain.
  static std::string Rehash(const std::string& line) {
    std::string_view canonical, hash;
    EXPECT_TRUE(RecordLine::Split(line, &canonical, &hash).ok());
    auto hasher = ChainHasher::Create("");
    char out[64];
    EXPECT_TRUE((*hasher)->HashHex(canonical, out).ok());
    return std::string(canonical) + ",\"hash\":\"" + std::string(out, 64) + "\"}";
  }

  TempDir dir_;
  std::string file_ = dir_.File("tampered.jsonl");
};

TEST_F(AuditVerifierTest, IntactLogVerifies) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  auto r = CheckLines(lines);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 10u);
  EXPECT_EQ(r.first_seq, 1u);
  EXPECT_EQ(r.last_seq, 10u);
}

TEST_F(AuditVerifierTest, EditedRecordDetected) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  lines[4].replace(lines[4].find("ptrace"), 6, "getpid");
  auto r = CheckLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5u);
  EXPECT_THAT(r.problem, HasSubstr("edited"));
}

TEST_F(AuditVerifierTest, EditedAndRehashedRecordBreaksTheNextLink) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  lines[4].replace(lines[4].find("\"deny\""), 6, "\"allo\"");
  lines[4] = Rehash(lines[4]);
  auto r = CheckLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 6u);
}

TEST_F(AuditVerifierTest, KeyedChainNamesTheEditedRecordEvenWhenRehashed) {
  const std::string key = dir_.File("key");
  WriteFile(key, "0123456789abcdef0123456789abcdef");
  AuditLogOptions o;
  o.path = dir_.File("keyed.jsonl");
  o.hmac_key_file = key;
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE((*log)->Append(AuditRecord("capability.use").SetDecision("deny")).ok());
    }
  }
  auto lines = Lines(ReadFile(o.path));
  VerifyOptions vo;
  vo.hmac_key_file = key;
  EXPECT_TRUE(CheckLines(lines, vo).ok);
  lines[3].replace(lines[3].find("\"deny\""), 6, "\"allo\"");
  lines[3] = Rehash(lines[3]);  // an attacker without the key can only use plain SHA-256
  auto r = CheckLines(lines, vo);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 4u);
  EXPECT_THAT(r.problem, HasSubstr("edited"));
}

TEST_F(AuditVerifierTest, DeletedRecordDetected) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  lines.erase(lines.begin() + 4);
  auto r = CheckLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5u);
}

TEST_F(AuditVerifierTest, DeletedFirstRecordDetected) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  lines.erase(lines.begin());
  auto r = CheckLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 1u);
  VerifyOptions vo;
  vo.allow_missing_head = true;
  EXPECT_TRUE(CheckLines(lines, vo).ok);
}

TEST_F(AuditVerifierTest, InsertedRecordDetected) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  lines.insert(lines.begin() + 5, lines[2]);  // replay of seq 3 after seq 5
  auto r = CheckLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 6u);
}

TEST_F(AuditVerifierTest, InsertedForgedRecordWithRenumberingDetected) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  // A forged seq 6 that chains to seq 5 and carries a valid SHA-256 of its own content.
  std::string forged = lines[5];
  forged.replace(forged.find("\"deny\""), 6, "\"allo\"");
  lines.insert(lines.begin() + 5, Rehash(forged));
  auto r = CheckLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 7u);  // the original seq 6 now sits where 7 should be
}

TEST_F(AuditVerifierTest, ReorderedRecordsDetected) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  std::swap(lines[4], lines[5]);
  auto r = CheckLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5u);
}

TEST_F(AuditVerifierTest, ChangedSeqDetected) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  lines[6].replace(0, 9, "{\"seq\":70");
  auto r = CheckLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 7u);
}

TEST_F(AuditVerifierTest, TornEndDetected) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  std::string text = JoinLines(lines);
  WriteFile(file_, text.substr(0, text.size() - 20));
  auto r = Check({file_});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 10u);
  EXPECT_THAT(r.problem, HasSubstr("truncated"));
}

TEST_F(AuditVerifierTest, WholeRecordTruncationDetectedWithAnchor) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  auto full = CheckLines(lines);
  ASSERT_TRUE(full.ok);
  VerifyOptions vo;
  vo.expect_last_seq = full.last_seq;
  vo.expect_last_hash = full.last_hash;
  EXPECT_TRUE(CheckLines(lines, vo).ok);
  lines.pop_back();
  auto r = CheckLines(lines, vo);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 10u);
  EXPECT_THAT(r.problem, HasSubstr("truncated"));
}

TEST_F(AuditVerifierTest, RewrittenChainDetectedWithAnchorHash) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  auto full = CheckLines(lines);
  VerifyOptions vo;
  vo.expect_last_seq = 10;
  vo.expect_last_hash = full.last_hash;
  lines[9].replace(lines[9].find("\"deny\""), 6, "\"allo\"");
  lines[9] = Rehash(lines[9]);
  auto r = CheckLines(lines, vo);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 10u);
}

TEST_F(AuditVerifierTest, GarbageLineDetected) {
  auto lines = MakeLog(dir_.File("a.jsonl"));
  lines.insert(lines.begin() + 3, "not json at all");
  auto r = CheckLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 4u);
}

TEST_F(AuditVerifierTest, RotatedFilesVerifyInAnyOrderAndMissingFileDetected) {
  const std::string path = dir_.File("r.jsonl");
  MakeLog(path, 600);  // about two records per file
  auto rotated = LogFiles::ListRotated(path);
  ASSERT_TRUE(rotated.ok());
  ASSERT_GE(rotated->size(), 3u);
  std::vector<std::string> files = {path};
  for (auto it = rotated->rbegin(); it != rotated->rend(); ++it) files.push_back(it->path);
  auto r = Check(files);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 10u);
  // Drop a middle file.
  std::vector<std::string> missing;
  for (const auto& f : files) {
    if (f != (*rotated)[1].path) missing.push_back(f);
  }
  auto bad = Check(missing);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.first_bad_seq, (*rotated)[1].first_seq);
  // Truncating a whole record off the end of a rotated file breaks the next file's link.
  auto first_lines = Lines(ReadFile((*rotated)[0].path));
  first_lines.pop_back();
  WriteFile((*rotated)[0].path, JoinLines(first_lines));
  auto cut = Check(files);
  EXPECT_FALSE(cut.ok);
  EXPECT_EQ(cut.first_bad_seq, first_lines.size() + 1);
}

}  // namespace
}  // namespace cordon::audit
