#include "audit/audit_record.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "audit/json_escape.h"

namespace cordon::audit {
namespace {

// Keys the envelope owns; a field with one of these names would make a record ambiguous.
constexpr std::array<std::string_view, 8> kReservedKeys = {
    "seq", "ts", "type", "launcher_pid", "plugin", "decision", "prev", "hash"};

bool ValidKey(std::string_view key) {
  if (key.empty() || key.size() > 64) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) --end;
  return s.substr(0, end);
}

std::string EncodeString(std::string_view s, bool* clean) {
  std::string out;
  out.reserve(s.size() + 2);
  *clean = AppendJsonString(&out, s);
  return out;
}

}  // namespace

AuditRecord::AuditRecord(std::string_view type) : type_(type) {
  if (type.empty() || type.size() > 64 || !ValidKey(type)) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("audit record type '", ToAbsl(CutUtf8(type, 64)),
                     "' is invalid: use 1-64 characters from [a-z0-9_.], e.g. 'plugin.start'"));
  }
}

void AuditRecord::Put(std::string_view key, std::string json_value) {
  if (!ValidKey(key)) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("audit field key '", ToAbsl(CutUtf8(key, 64)), "' in record '", type_,
                       "' is invalid: use 1-64 characters from [a-z0-9_.]"));
    }
    return;
  }
  for (std::string_view reserved : kReservedKeys) {
    if (key == reserved) {
      if (status_.ok()) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat("audit field key '", ToAbsl(key), "' in record '", type_,
                         "' is reserved for the record envelope; pick another name"));
      }
      return;
    }
  }
  for (auto& [k, v] : fields_) {
    if (k == key) {
      v = std::move(json_value);
      return;
    }
  }
  fields_.emplace_back(std::string(key), std::move(json_value));
}

void AuditRecord::PutString(std::string_view key, std::string_view value) {
  const std::string_view kept = CutUtf8(value, kMaxStringBytes);
  bool clean = true;
  Put(key, EncodeString(kept, &clean));
  if (kept.size() != value.size()) {
    Put(absl::StrCat(ToAbsl(key), "_len"), absl::StrCat(value.size()));
  }
  // Invalid UTF-8 became U+FFFD; keep the exact bytes too, since a path with a bad byte is
  // exactly what a reviewer needs to see verbatim.
  if (!clean) Put(absl::StrCat(ToAbsl(key), "_hex"), absl::StrCat("\"", HexEncode(kept), "\""));
}

AuditRecord& AuditRecord::Set(std::string_view key, std::string_view value) {
  PutString(key, value);
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key, const char* value) {
  PutString(key, value == nullptr ? std::string_view() : std::string_view(value));
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key, const std::string& value) {
  PutString(key, value);
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key, int value) {
  Put(key, absl::StrCat(value));
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key, int64_t value) {
  Put(key, absl::StrCat(value));
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key, uint64_t value) {
  Put(key, absl::StrCat(value));
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key, unsigned int value) {
  Put(key, absl::StrCat(value));
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key, long long value) {  // NOLINT(runtime/int)
  Put(key, absl::StrCat(value));
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key,
                              unsigned long long value) {  // NOLINT(runtime/int)
  Put(key, absl::StrCat(value));
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key, double value) {
  // JSON has no NaN or infinity; null keeps the line parseable.
  Put(key, std::isfinite(value) ? absl::StrCat(value) : std::string("null"));
  return *this;
}
AuditRecord& AuditRecord::Set(std::string_view key, bool value) {
  Put(key, value ? "true" : "false");
  return *this;
}

AuditRecord& AuditRecord::SetStrings(std::string_view key, absl::Span<const std::string> values) {
  std::string out = "[";
  std::string hex = "[";
  std::string lens = "[";
  bool clean = true;
  bool cut = false;
  const size_t n = std::min(values.size(), kMaxArrayItems);
  for (size_t i = 0; i < n; ++i) {
    if (i) {
      out.push_back(',');
      hex.push_back(',');
      lens.push_back(',');
    }
    const std::string_view kept = CutUtf8(values[i], kMaxStringBytes);
    if (kept.size() != values[i].size()) {
      cut = true;
      absl::StrAppend(&lens, values[i].size());
    } else {
      lens.append("null");
    }
    if (AppendJsonString(&out, kept)) {
      hex.append("null");
    } else {
      clean = false;
      absl::StrAppend(&hex, "\"", HexEncode(kept), "\"");
    }
  }
  out.push_back(']');
  hex.push_back(']');
  lens.push_back(']');
  Put(key, std::move(out));
  if (n != values.size()) Put(absl::StrCat(ToAbsl(key), "_len"), absl::StrCat(values.size()));
  // An item cut to kMaxStringBytes keeps its original length at its index, as `<key>_len`
  // does for a single string.
  if (cut) Put(absl::StrCat(ToAbsl(key), "_item_lens"), std::move(lens));
  // As for a single string: the exact bytes of an item with invalid UTF-8 (an argv element
  // with a stray byte) must survive, at the same index as the item.
  if (!clean) Put(absl::StrCat(ToAbsl(key), "_hex"), std::move(hex));
  return *this;
}

AuditRecord& AuditRecord::SetInts(std::string_view key, absl::Span<const uint64_t> values) {
  std::string out = "[";
  const size_t n = std::min(values.size(), kMaxArrayItems);
  for (size_t i = 0; i < n; ++i) {
    if (i) out.push_back(',');
    absl::StrAppend(&out, values[i]);
  }
  out.push_back(']');
  Put(key, std::move(out));
  if (n != values.size()) Put(absl::StrCat(ToAbsl(key), "_len"), absl::StrCat(values.size()));
  return *this;
}

AuditRecord& AuditRecord::SetObject(std::string_view key, const AuditRecord& nested_fields) {
  if (!nested_fields.status().ok() && status_.ok()) status_ = nested_fields.status();
  std::string out = "{";
  std::string fields;
  nested_fields.AppendFieldsJson(&fields);
  if (!fields.empty()) out.append(fields, 1);  // drop the leading comma
  out.push_back('}');
  Put(key, std::move(out));
  return *this;
}

AuditRecord& AuditRecord::SetPlugin(const PluginIdentity& plugin) {
  return SetPlugin(plugin.id, plugin.name, plugin.version, plugin.host_pid);
}

AuditRecord& AuditRecord::SetPlugin(std::string_view id, std::string_view name,
                                    std::string_view version, pid_t host_pid) {
  has_plugin_ = true;
  plugin_json_.assign(1, '{');
  std::string hex;  // the `<key>_hex` siblings, last
  for (const auto& [key, value] : {std::pair<std::string_view, std::string_view>{"id", id},
                                   {"name", name},
                                   {"version", version}}) {
    if (key != "id") plugin_json_.push_back(',');
    absl::StrAppend(&plugin_json_, "\"", ToAbsl(key), "\":");
    const std::string_view kept = CutUtf8(value, 256);
    if (!AppendJsonString(&plugin_json_, kept)) {
      absl::StrAppend(&hex, ",\"", ToAbsl(key), "_hex\":\"", HexEncode(kept), "\"");
    }
  }
  if (host_pid > 0) absl::StrAppend(&plugin_json_, ",\"host_pid\":", host_pid);
  plugin_json_.append(hex);
  plugin_json_.push_back('}');
  return *this;
}

AuditRecord& AuditRecord::SetDecision(std::string_view decision) {
  decision_ = std::string(CutUtf8(decision, 64));
  return *this;
}

void AuditRecord::AppendFieldsJson(std::string* out) const {
  for (const auto& [k, v] : fields_) {
    out->push_back(',');
    out->push_back('"');
    out->append(k);  // validated to [a-z0-9_.]
    out->append("\":");
    out->append(v);
  }
}

void AuditRecord::AppendPluginAndDecisionJson(std::string* out) const {
  if (has_plugin_) {
    out->append(",\"plugin\":");
    out->append(plugin_json_);
  }
  if (!decision_.empty()) {
    out->append(",\"decision\":");
    AppendJsonString(out, decision_);
  }
}

}  // namespace cordon::audit
