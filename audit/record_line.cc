#include "audit/record_line.h"

#include <cstring>
#include <ctime>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "audit/json_escape.h"

namespace cordon::audit {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

absl::Status RecordLine::Split(std::string_view line, std::string_view* canonical,
                               std::string_view* hash) {
  if (line.size() < kHashSuffixLength + 2) {
    return absl::DataLossError("record line is too short to hold a hash");
  }
  const std::string_view suffix = line.substr(line.size() - kHashSuffixLength);
  if (suffix.substr(0, 9) != ",\"hash\":\"" || suffix.substr(9 + 64) != "\"}" ||
      !IsLowerHex(suffix.substr(9, 64))) {
    return absl::DataLossError("record line does not end with ,\"hash\":\"<64 hex>\"}");
  }
  *canonical = line.substr(0, line.size() - kHashSuffixLength);
  *hash = suffix.substr(9, 64);
  return absl::OkStatus();
}

absl::StatusOr<ParsedRecord> RecordLine::Parse(std::string_view line) {
  if (line.size() > kMaxLineBytes) {
    return absl::DataLossError(
        absl::StrCat("record line of ", line.size(), " bytes exceeds ", kMaxLineBytes));
  }
  absl::StatusOr<JsonValue> json = JsonValue::Parse(line);
  if (!json.ok()) return absl::DataLossError(json.status().message());
  if (!json->is_object()) return absl::DataLossError("record is not a JSON object");
  ParsedRecord r;
  const JsonValue* seq = json->Find("seq");
  if (seq == nullptr || !seq->ToUint64(&r.seq)) {
    return absl::DataLossError("record has no integer 'seq'");
  }
  auto get_string = [&](std::string_view key, std::string* out, bool required) {
    const JsonValue* v = json->Find(key);
    if (v == nullptr || !v->is_string()) return !required;
    *out = v->string_value();
    return true;
  };
  if (!get_string("ts", &r.ts, true) || !get_string("type", &r.type, true) ||
      !get_string("prev", &r.prev, true) || !get_string("hash", &r.hash, true) ||
      !get_string("decision", &r.decision, false)) {
    return absl::DataLossError(
        absl::StrCat("record seq ", r.seq, " lacks a string ts, type, prev or hash"));
  }
  if (r.prev.size() != 64 || !IsLowerHex(r.prev)) {
    return absl::DataLossError(absl::StrCat("record seq ", r.seq, " has a malformed prev"));
  }
  if (const JsonValue* p = json->Find("plugin"); p != nullptr && p->is_object()) {
    if (const JsonValue* id = p->Find("id"); id != nullptr && id->is_string()) {
      r.plugin_id = id->string_value();
    }
    if (const JsonValue* n = p->Find("name"); n != nullptr && n->is_string()) {
      r.plugin_name = n->string_value();
    }
  }
  r.json = *std::move(json);
  return r;
}

void RecordLine::AppendTimestamp(std::string* out, absl::Time t) {
  const timespec ts = absl::ToTimespec(t);
  AppendTimestamp(out, ts.tv_sec, ts.tv_nsec);
}

void RecordLine::AppendTimestamp(std::string* out, int64_t sec, int64_t nsec) {
  // Formatting the date is the costly part; it changes once a second, so cache it per thread.
  thread_local int64_t cached_sec = INT64_MIN;
  thread_local char cached[20];  // YYYY-MM-DDTHH:MM:SS
  if (sec != cached_sec) {
    const time_t s = static_cast<time_t>(sec);
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[96];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(cached, buf, sizeof cached - 1);
    cached[19] = '\0';
    cached_sec = sec;
  }
  char frac[12];
  frac[0] = '.';
  uint32_t n = static_cast<uint32_t>(nsec);
  for (int i = 9; i >= 1; --i) {
    frac[i] = static_cast<char>('0' + n % 10);
    n /= 10;
  }
  frac[10] = 'Z';
  out->append(cached, 19);
  out->append(frac, 11);
}

absl::StatusOr<absl::Time> RecordLine::ParseTimestamp(std::string_view text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &err)) return t;
  if (absl::ParseTime("%Y-%m-%d", std::string(text), absl::UTCTimeZone(), &t, &err)) return t;
  return absl::InvalidArgumentError(absl::StrCat(
      "time '", ToAbsl(text), "' is not RFC 3339 (2026-01-02T03:04:05Z) or a date (2026-01-02)"));
}

}  // namespace cordon::audit
