#ifndef CORDON_AUDIT_TESTING_AUDIT_LOG_TEST_UTIL_H_
#define CORDON_AUDIT_TESTING_AUDIT_LOG_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/audit_record.h"
#include "audit/audit_verifier.h"
#include "audit/log_files.h"
#include "audit/record_line.h"
#include "audit/testing/audit_test_util.h"
#include "gtest/gtest.h"

// Helpers shared by the AuditLog tests (audit_log_test.cc, audit_log_durability_test.cc).
namespace cordon::audit::testing {

// A capability.use record numbered i: a third of them denied.
inline AuditRecord Rec(int i) {
  AuditRecord r("capability.use");
  r.SetPlugin("p1", "demo", "1.0").SetDecision(i % 3 == 0 ? "deny" : "allow");
  r.Set("capability", "fs.open").Set("path", absl::StrCat("/data/f", i)).Set("i", i);
  return r;
}

// The rotated files of `path`, oldest first, then `path` itself.
inline std::vector<std::string> AllFiles(const std::string& path) {
  std::vector<std::string> files;
  auto rotated = LogFiles::ListRotated(path);
  EXPECT_TRUE(rotated.ok());
  if (rotated.ok()) {
    for (const auto& r : *rotated) files.push_back(r.path);
  }
  files.push_back(path);
  return files;
}

inline VerifyResult VerifyAll(const std::string& path, const std::string& key_file = "") {
  VerifyOptions vo;
  vo.hmac_key_file = key_file;
  auto r = AuditVerifier::Verify(AllFiles(path), vo);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : VerifyResult();
}

inline std::vector<ParsedRecord> ReadRecords(const std::string& path) {
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

}  // namespace cordon::audit::testing

#endif  // CORDON_AUDIT_TESTING_AUDIT_LOG_TEST_UTIL_H_
