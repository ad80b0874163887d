// Test helper: a PluginAuditor writing to a real audit log in a temp dir, and the records read
// back, for tests of what the supervisor records.
#ifndef CORDON_LAUNCHER_SUPERVISOR_TESTING_AUDIT_CAPTURE_H_
#define CORDON_LAUNCHER_SUPERVISOR_TESTING_AUDIT_CAPTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "audit/json_value.h"
#include "audit/testing/audit_test_util.h"
#include "gtest/gtest.h"
#include "launcher/supervisor/plugin_auditor.h"

namespace cordon::supervisor::testing {

class AuditCapture {
 public:
  AuditCapture() {
    audit::AuditLogOptions options;
    options.path = path_ = dir_.File("audit.jsonl");
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(options);
    EXPECT_TRUE(log.ok()) << log.status();
    if (log.ok()) log_ = std::move(*log);
    auditor_ = std::make_unique<PluginAuditor>(log_.get(), PluginIdentity{"run-1", "probe", ""});
  }

  PluginAuditor& auditor() { return *auditor_; }

  // Closes the log (everything is written) and parses every record, in order.
  std::vector<audit::JsonValue> Records() {
    log_.reset();
    std::vector<audit::JsonValue> records;
    for (const std::string& line : audit::testing::Lines(audit::testing::ReadFile(path_))) {
      absl::StatusOr<audit::JsonValue> record = audit::JsonValue::Parse(line);
      EXPECT_TRUE(record.ok()) << record.status() << ": " << line;
      if (record.ok()) records.push_back(std::move(*record));
    }
    return records;
  }

 private:
  audit::testing::TempDir dir_;
  std::string path_;
  std::unique_ptr<audit::AuditLog> log_;
  std::unique_ptr<PluginAuditor> auditor_;
};

}  // namespace cordon::supervisor::testing

#endif  // CORDON_LAUNCHER_SUPERVISOR_TESTING_AUDIT_CAPTURE_H_
