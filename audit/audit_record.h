#ifndef CORDON_AUDIT_AUDIT_RECORD_H_
#define CORDON_AUDIT_AUDIT_RECORD_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace cordon::audit {

// Who a plugin-scoped record is about: written as the record's `plugin` object. Kept by the
// code that owns a plugin and passed whole to SetPlugin, so a record can never carry the name
// without the host pid once the pid is known.
struct PluginIdentity {
  std::string id;       // unique per launch, e.g. "run-4242-1732531200123"
  std::string name;     // plugin or program name
  std::string version;  // plugin version, "" for plain programs
  // Host pid of the plugin's sandbox init (pid 1 inside); 0 until the sandbox exists, and then
  // left out of the record.
  pid_t host_pid = 0;
};

// Builder for one record's own fields. Every string passes through JSON escaping here, so
// plugin-controlled text (paths, log lines, names) can never break out of its field or the
// line. The envelope (seq, ts, launcher_pid, prev, hash) is added by AuditLog::Append.
class AuditRecord {
 public:
  // Longest string value kept; longer values are cut and `<key>_len` records the original
  // length, because a plugin must not be able to make records arbitrarily large.
  static constexpr size_t kMaxStringBytes = 4096;
  static constexpr size_t kMaxArrayItems = 256;

  explicit AuditRecord(std::string_view type);

  AuditRecord& Set(std::string_view key, std::string_view value);
  AuditRecord& Set(std::string_view key, const char* value);
  AuditRecord& Set(std::string_view key, const std::string& value);
  AuditRecord& Set(std::string_view key, int value);
  AuditRecord& Set(std::string_view key, int64_t value);
  AuditRecord& Set(std::string_view key, uint64_t value);
  // Extra integer overloads so every integer type picks exactly one Set (no ambiguity).
  AuditRecord& Set(std::string_view key, unsigned int value);
  AuditRecord& Set(std::string_view key, long long value);           // NOLINT(runtime/int)
  AuditRecord& Set(std::string_view key, unsigned long long value);  // NOLINT(runtime/int)
  AuditRecord& Set(std::string_view key, double value);
  AuditRecord& Set(std::string_view key, bool value);
  // A JSON array of strings. If any item is not valid UTF-8, `<key>_hex` is an array of the
  // same length holding the exact bytes of each such item in hex and null for the others. If
  // any item was cut to kMaxStringBytes, `<key>_item_lens` holds the original length of each
  // cut item and null for the others. More than kMaxArrayItems items: the rest are left out
  // and `<key>_len` is the original count (SetInts too).
  AuditRecord& SetStrings(std::string_view key, absl::Span<const std::string> values);
  AuditRecord& SetInts(std::string_view key, absl::Span<const uint64_t> values);
  AuditRecord& SetObject(std::string_view key, const AuditRecord& nested_fields);
  // The `plugin` object: id, name, version, and host_pid when above 0. Each string that is not
  // valid UTF-8 gets an `<key>_hex` sibling inside the object, as Set does.
  AuditRecord& SetPlugin(const PluginIdentity& plugin);
  AuditRecord& SetPlugin(std::string_view id, std::string_view name, std::string_view version,
                         pid_t host_pid = 0);
  AuditRecord& SetDecision(std::string_view decision);

  std::string_view type() const { return type_; }
  std::string_view decision() const { return decision_; }
  bool has_plugin() const { return has_plugin_; }

  // Non-OK if the builder was misused (reserved or empty key, bad type name); Append refuses
  // such a record rather than write something ambiguous.
  const absl::Status& status() const { return status_; }

  // Appends `,"key":value` for each field, in insertion order (a re-Set key keeps its place).
  void AppendFieldsJson(std::string* out) const;
  // Appends `,"plugin":{...}` and `,"decision":"..."` where set.
  void AppendPluginAndDecisionJson(std::string* out) const;

 private:
  void Put(std::string_view key, std::string json_value);
  void PutString(std::string_view key, std::string_view value);

  std::string type_;
  std::string decision_;
  bool has_plugin_ = false;
  std::string plugin_json_;
  std::vector<std::pair<std::string, std::string>> fields_;  // key, encoded JSON value
  absl::Status status_;
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_AUDIT_RECORD_H_
