#include "audit/record_table.h"

#include "absl/strings/str_cat.h"
#include "audit/json_escape.h"

namespace cordon::audit {
namespace {

bool IsEnvelopeKey(std::string_view k) {
  return k == "seq" || k == "ts" || k == "type" || k == "launcher_pid" || k == "plugin" ||
         k == "decision" || k == "prev" || k == "hash";
}

}  // namespace

std::string RecordTable::Safe(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out.substr(1, out.size() - 2);
}

std::string RecordTable::Row(const ParsedRecord& r) {
  std::string details;
  for (const auto& [k, v] : r.json.object()) {
    if (IsEnvelopeKey(k)) continue;
    if (!details.empty()) details.push_back(' ');
    absl::StrAppend(&details, Safe(k), "=", v.ToText());
  }
  const std::string& plugin = r.plugin_name.empty() ? r.plugin_id : r.plugin_name;
  return absl::StrCat(r.seq, "  ", Safe(r.ts), "  ", Safe(r.type), "  ",
                      plugin.empty() ? "-" : Safe(plugin), "  ",
                      r.decision.empty() ? "-" : Safe(r.decision), "  ", details);
}

}  // namespace cordon::audit
