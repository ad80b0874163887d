#include "audit/audit_command.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "audit/audit_verifier.h"
#include "audit/log_reader.h"
#include "audit/log_tail.h"
#include "audit/record_line.h"
#include "audit/record_table.h"

namespace cordon::audit {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitBad = 1;
constexpr int kExitUsage = 2;

constexpr char kHelp[] = R"(usage: cordon audit <command> [options] FILE...

Commands:
  verify FILE...    Check the hash chain over the log and its rotated files: detects an
                    edited, deleted, inserted or reordered record and truncation; names the
                    first bad seq. Exit 0: intact, 1: tampered or truncated, 2: error.
      --key-file F          HMAC key the log was written with
      --allow-missing-head  accept a log whose first files were pruned (starts after seq 1)
      --expect-last SEQ[:HASH]  anchor kept elsewhere: the log must reach SEQ (with HASH)
  query FILE...     Print matching records.
      --type T              record type; 'plugin.*' matches a prefix
      --plugin P            plugin id or name
      --decision D          allow | deny
      --since TIME --until TIME   RFC 3339 (2026-01-02T03:04:05Z) or a date
      --seq-from N --seq-to N
      --format table|json   json: the original JSON lines (default: table)
  summary FILE...   Per plugin: counts by type and decision, top denied syscalls and
                    capabilities, quota kills.  Options: --since, --until, --plugin, --top N
  tail FILE         Print the last records; -f follows the live log across rotations.
      -n N                  records to show first (default 10)
      -f                    follow
      --format table|json
      --max-records N       exit after printing N records (for scripts)

verify, query, summary: --no-rotated  do not add FILE.<seq> rotated siblings of each FILE
                       automatically (tail always follows the rotation of its one FILE).
See docs/audit.md for record types and fields.
)";

struct Args {
  std::map<std::string, std::string> opts;  // --name -> value ("" for flags)
  std::vector<std::string> files;
};

// Flags that take no value.
bool IsFlag(std::string_view name) {
  return name == "--allow-missing-head" || name == "--no-rotated" || name == "-f" ||
         name == "--follow" || name == "--help" || name == "-h";
}

bool ParseArgs(const std::vector<std::string>& args, size_t start,
               const std::vector<std::string_view>& known, Args* out, std::ostream& err) {
  for (size_t i = start; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() > 1 && a[0] == '-') {
      std::string name = a;
      std::string value;
      const size_t eq = a.find('=');
      if (eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
      }
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        err << "cordon audit: unknown option " << name << " (see cordon audit --help)\n";
        return false;
      }
      if (!IsFlag(name) && eq == std::string::npos) {
        if (i + 1 >= args.size()) {
          err << "cordon audit: option " << name << " needs a value\n";
          return false;
        }
        value = args[++i];
      }
      out->opts[name] = value;
    } else {
      out->files.push_back(a);
    }
  }
  return true;
}

struct Filter {
  std::string type;
  std::string plugin;
  std::string decision;
  std::string since;  // formatted like ts, compared as strings (fixed width)
  std::string until;
  uint64_t seq_from = 0;
  uint64_t seq_to = UINT64_MAX;

  bool Matches(const ParsedRecord& r) const {
    if (!type.empty()) {
      if (type.size() > 1 && type.back() == '*') {
        if (r.type.compare(0, type.size() - 1, type, 0, type.size() - 1) != 0) return false;
      } else if (r.type != type) {
        return false;
      }
    }
    if (!plugin.empty() && r.plugin_id != plugin && r.plugin_name != plugin) return false;
    if (!decision.empty() && r.decision != decision) return false;
    if (!since.empty() && r.ts < since) return false;
    if (!until.empty() && r.ts >= until) return false;
    return r.seq >= seq_from && r.seq <= seq_to;
  }
};

bool BuildFilter(const Args& a, Filter* f, std::ostream& err) {
  auto get = [&](const char* k) -> std::optional<std::string> {
    auto it = a.opts.find(k);
    if (it == a.opts.end()) return std::nullopt;
    return it->second;
  };
  f->type = get("--type").value_or("");
  f->plugin = get("--plugin").value_or("");
  f->decision = get("--decision").value_or("");
  for (const char* k : {"--since", "--until"}) {
    if (auto v = get(k)) {
      absl::StatusOr<absl::Time> t = RecordLine::ParseTimestamp(*v);
      if (!t.ok()) {
        err << "cordon audit: " << k << ": " << t.status().message() << "\n";
        return false;
      }
      std::string s;
      RecordLine::AppendTimestamp(&s, *t);
      (std::string_view(k) == "--since" ? f->since : f->until) = s;
    }
  }
  if (auto v = get("--seq-from"); v && !absl::SimpleAtoi(*v, &f->seq_from)) {
    err << "cordon audit: --seq-from wants a number, got '" << RecordTable::Safe(*v) << "'\n";
    return false;
  }
  if (auto v = get("--seq-to"); v && !absl::SimpleAtoi(*v, &f->seq_to)) {
    err << "cordon audit: --seq-to wants a number, got '" << RecordTable::Safe(*v) << "'\n";
    return false;
  }
  return true;
}

// Calls fn(record, raw_line) for every readable record of the log in seq order.
template <typename Fn>
int ForEachRecord(const Args& a, std::ostream& err, Fn fn) {
  if (a.files.empty()) {
    err << "cordon audit: give at least one log FILE\n";
    return kExitUsage;
  }
  absl::StatusOr<std::vector<std::string>> files =
      LogReader::OrderFiles(a.files, a.opts.count("--no-rotated") == 0);
  if (!files.ok()) {
    err << "cordon audit: " << files.status().message() << "\n";
    return kExitUsage;
  }
  for (const std::string& path : *files) {
    absl::StatusOr<LogReader> reader = LogReader::Open(path);
    if (!reader.ok()) {
      err << "cordon audit: " << reader.status().message() << "\n";
      return kExitUsage;
    }
    std::string line;
    while (true) {
      absl::StatusOr<LogReader::Result> next = reader->Next(&line);
      if (!next.ok()) {
        err << "cordon audit: " << next.status().message() << "\n";
        return kExitUsage;
      }
      if (*next == LogReader::Result::kNoLine) break;
      absl::StatusOr<ParsedRecord> rec = *next == LogReader::Result::kLine
                                             ? RecordLine::Parse(line)
                                             : absl::DataLossError("line too long");
      if (!rec.ok()) {
        err << "cordon audit: " << path << " offset " << reader->line_offset()
            << ": skipping unreadable record: " << rec.status().message() << "\n";
        continue;
      }
      fn(*rec, line);
    }
  }
  return kExitOk;
}

int RunVerify(const Args& a, std::ostream& out, std::ostream& err) {
  if (a.files.empty()) {
    err << "cordon audit verify: give the log FILE(s)\n";
    return kExitUsage;
  }
  VerifyOptions vo;
  if (auto it = a.opts.find("--key-file"); it != a.opts.end()) vo.hmac_key_file = it->second;
  vo.allow_missing_head = a.opts.count("--allow-missing-head") > 0;
  if (auto it = a.opts.find("--expect-last"); it != a.opts.end()) {
    std::vector<std::string> parts = absl::StrSplit(it->second, absl::MaxSplits(':', 1));
    uint64_t seq = 0;
    if (!absl::SimpleAtoi(parts[0], &seq)) {
      err << "cordon audit verify: --expect-last wants SEQ or SEQ:HASH\n";
      return kExitUsage;
    }
    vo.expect_last_seq = seq;
    if (parts.size() > 1) vo.expect_last_hash = parts[1];
  }
  absl::StatusOr<std::vector<std::string>> files =
      LogReader::OrderFiles(a.files, a.opts.count("--no-rotated") == 0);
  if (!files.ok()) {
    err << "cordon audit verify: " << files.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<VerifyResult> r = AuditVerifier::Verify(*files, vo);
  if (!r.ok()) {
    err << "cordon audit verify: " << r.status().message() << "\n";
    return kExitUsage;
  }
  for (const std::string& n : r->notes) out << "note: " << n << "\n";
  if (!r->ok) {
    out << "FAIL: first bad seq " << r->first_bad_seq << ": " << r->problem << "\n";
    return kExitBad;
  }
  out << "OK: " << r->records << " records, seq " << r->first_seq << ".." << r->last_seq << " in "
      << files->size() << " file(s); last hash " << r->last_hash
      << " (keep seq:hash elsewhere and pass it as --expect-last to detect truncation)\n";
  return kExitOk;
}

int RunQuery(const Args& a, std::ostream& out, std::ostream& err) {
  Filter f;
  if (!BuildFilter(a, &f, err)) return kExitUsage;
  const std::string format = a.opts.count("--format") ? a.opts.at("--format") : "table";
  if (format != "table" && format != "json") {
    err << "cordon audit query: --format is table or json\n";
    return kExitUsage;
  }
  return ForEachRecord(a, err, [&](const ParsedRecord& r, const std::string& line) {
    if (!f.Matches(r)) return;
    if (format == "json") {
      out << line << "\n";
    } else {
      out << RecordTable::Row(r) << "\n";
    }
  });
}

struct PluginSummary {
  std::map<std::string, uint64_t> by_type;
  std::map<std::string, uint64_t> by_decision;
  std::map<std::string, uint64_t> denied_syscalls;
  std::map<std::string, uint64_t> denied_capabilities;
  std::map<std::string, uint64_t> quota_kills;
};

std::string StringField(const ParsedRecord& r, std::string_view key) {
  const JsonValue* v = r.json.Find(key);
  if (v == nullptr) return "?";
  return v->is_string() ? v->string_value() : v->ToText();
}

void PrintTop(std::ostream& out, std::string_view title, const std::map<std::string, uint64_t>& m,
              size_t top) {
  if (m.empty()) return;
  std::vector<std::pair<std::string, uint64_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  out << "  " << title << ":";
  for (size_t i = 0; i < v.size() && i < top; ++i)
    out << " " << RecordTable::Safe(v[i].first) << "=" << v[i].second;
  out << "\n";
}

int RunSummary(const Args& a, std::ostream& out, std::ostream& err) {
  Filter f;
  if (!BuildFilter(a, &f, err)) return kExitUsage;
  size_t top = 10;
  if (auto it = a.opts.find("--top"); it != a.opts.end() && !absl::SimpleAtoi(it->second, &top)) {
    err << "cordon audit summary: --top wants a number\n";
    return kExitUsage;
  }
  std::map<std::string, PluginSummary> plugins;
  uint64_t total = 0;
  const int rc = ForEachRecord(a, err, [&](const ParsedRecord& r, const std::string&) {
    if (!f.Matches(r)) return;
    ++total;
    std::string key = r.plugin_name.empty() ? r.plugin_id : r.plugin_name;
    if (!r.plugin_id.empty() && !r.plugin_name.empty())
      key = r.plugin_name + " (" + r.plugin_id + ")";
    if (key.empty()) key = "(launcher)";
    PluginSummary& s = plugins[key];
    ++s.by_type[r.type];
    if (!r.decision.empty()) ++s.by_decision[r.decision];
    if (r.type == "seccomp.violation") {
      // An aggregated record stands for its own call plus `suppressed` others.
      uint64_t suppressed = 0;
      if (const JsonValue* v = r.json.Find("suppressed"); v != nullptr)
        (void)v->ToUint64(&suppressed);
      // The overflow window (counted_syscalls "many") counts calls of many syscalls: credit
      // them to that, not to whichever syscall happened to be its last call.
      std::string name = StringField(r, "syscall");
      if (StringField(r, "counted_syscalls") == "many") name = "(many syscalls)";
      s.denied_syscalls[name] += 1 + suppressed;
    }
    if (r.type == "capability.use" && r.decision == "deny") {
      ++s.denied_capabilities[StringField(r, "capability")];
    }
    // The launcher writes "killed"; "kill" is what logs written before 0.1 said.
    if (r.type == "quota.violation" &&
        (StringField(r, "action") == "killed" || StringField(r, "action") == "kill")) {
      ++s.quota_kills[StringField(r, "quota")];
    }
  });
  if (rc != kExitOk) return rc;
  out << total << " records, " << plugins.size() << " plugin(s)\n";
  for (const auto& [name, s] : plugins) {
    out << RecordTable::Safe(name) << "\n";
    PrintTop(out, "types", s.by_type, SIZE_MAX);
    PrintTop(out, "decisions", s.by_decision, SIZE_MAX);
    PrintTop(out, "top denied syscalls", s.denied_syscalls, top);
    PrintTop(out, "top denied capabilities", s.denied_capabilities, top);
    PrintTop(out, "quota kills", s.quota_kills, SIZE_MAX);
  }
  return kExitOk;
}

int RunTail(const Args& a, std::ostream& out, std::ostream& err) {
  if (a.files.size() != 1) {
    err << "cordon audit tail: give exactly one log FILE (the active file)\n";
    return kExitUsage;
  }
  const std::string& path = a.files[0];
  const bool json = a.opts.count("--format") && a.opts.at("--format") == "json";
  const bool follow = a.opts.count("-f") || a.opts.count("--follow");
  uint64_t n = 10;
  uint64_t max_records = UINT64_MAX;
  if (auto it = a.opts.find("-n"); it != a.opts.end() && !absl::SimpleAtoi(it->second, &n)) {
    err << "cordon audit tail: -n wants a number\n";
    return kExitUsage;
  }
  if (auto it = a.opts.find("--max-records");
      it != a.opts.end() && !absl::SimpleAtoi(it->second, &max_records)) {
    err << "cordon audit tail: --max-records wants a number\n";
    return kExitUsage;
  }
  LogTail::Options options;
  options.path = path;
  options.json = json;
  options.follow = follow;
  options.last = n;
  options.max_records = max_records;
  return LogTail::Run(options, out, err);
}

}  // namespace

int RunAuditCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? err : out) << kHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string& cmd = args[0];
  Args a;
  std::vector<std::string_view> known;
  if (cmd == "verify") {
    known = {"--key-file", "--allow-missing-head", "--expect-last", "--no-rotated", "--help", "-h"};
  } else if (cmd == "query") {
    known = {"--type",   "--plugin", "--decision",   "--since", "--until", "--seq-from",
             "--seq-to", "--format", "--no-rotated", "--help",  "-h"};
  } else if (cmd == "summary") {
    known = {"--since", "--until",      "--plugin", "--type", "--decision",
             "--top",   "--no-rotated", "--help",   "-h"};
  } else if (cmd == "tail") {
    known = {"-n", "-f", "--follow", "--format", "--max-records", "--help", "-h"};
  } else {
    err << "cordon audit: unknown command '" << RecordTable::Safe(cmd) << "'\n" << kHelp;
    return kExitUsage;
  }
  if (!ParseArgs(args, 1, known, &a, err)) return kExitUsage;
  if (a.opts.count("--help") || a.opts.count("-h")) {
    out << kHelp;
    return kExitOk;
  }
  if (cmd == "verify") return RunVerify(a, out, err);
  if (cmd == "query") return RunQuery(a, out, err);
  if (cmd == "summary") return RunSummary(a, out, err);
  return RunTail(a, out, err);
}

}  // namespace cordon::audit
