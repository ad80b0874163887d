#include "audit/audit_command.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "audit/audit_verifier.h"
#include "audit/json_escape.h"
#include "audit/log_files.h"
#include "audit/log_reader.h"
#include "audit/record_line.h"

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

// Terminal-safe rendering of an untrusted string: JSON escaping without the quotes.
std::string Safe(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out.substr(1, out.size() - 2);
}

bool IsEnvelopeKey(std::string_view k) {
  return k == "seq" || k == "ts" || k == "type" || k == "launcher_pid" || k == "plugin" ||
         k == "decision" || k == "prev" || k == "hash";
}

std::string TableRow(const ParsedRecord& r) {
  std::string details;
  for (const auto& [k, v] : r.json.object()) {
    if (IsEnvelopeKey(k)) continue;
    if (!details.empty()) details.push_back(' ');
    absl::StrAppend(&details, Safe(k), "=", v.ToText());
  }
  std::string plugin = r.plugin_name.empty() ? r.plugin_id : r.plugin_name;
  if (plugin.empty()) plugin = "-";
  return absl::StrCat(r.seq, "  ", r.ts, "  ", Safe(r.type), "  ", Safe(plugin), "  ",
                      r.decision.empty() ? "-" : Safe(r.decision), "  ", details);
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
    err << "cordon audit: --seq-from wants a number, got '" << Safe(*v) << "'\n";
    return false;
  }
  if (auto v = get("--seq-to"); v && !absl::SimpleAtoi(*v, &f->seq_to)) {
    err << "cordon audit: --seq-to wants a number, got '" << Safe(*v) << "'\n";
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
      out << TableRow(r) << "\n";
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
    out << " " << Safe(v[i].first) << "=" << v[i].second;
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
      s.denied_syscalls[StringField(r, "syscall")] += 1 + suppressed;
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
    out << Safe(name) << "\n";
    PrintTop(out, "types", s.by_type, SIZE_MAX);
    PrintTop(out, "decisions", s.by_decision, SIZE_MAX);
    PrintTop(out, "top denied syscalls", s.denied_syscalls, top);
    PrintTop(out, "top denied capabilities", s.denied_capabilities, top);
    PrintTop(out, "quota kills", s.quota_kills, SIZE_MAX);
  }
  return kExitOk;
}

// Emits complete lines of `reader`; returns false when --max-records is reached.
bool DrainLines(LogReader& reader, bool json, uint64_t max_records, uint64_t* printed,
                uint64_t* last_seq, std::ostream& out, std::ostream& err) {
  std::string line;
  while (true) {
    absl::StatusOr<LogReader::Result> next = reader.Next(&line);
    if (!next.ok() || *next == LogReader::Result::kNoLine) return true;
    if (*next != LogReader::Result::kLine) continue;
    absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(line);
    if (!rec.ok()) {
      err << "cordon audit tail: skipping unreadable record: " << rec.status().message() << "\n";
      continue;
    }
    *last_seq = rec->seq;
    out << (json ? line : TableRow(*rec)) << "\n";
    out.flush();
    if (++*printed >= max_records) return false;
  }
}

// The seq of the last record in the newest rotated file of `path`, 0 if there is none. For an
// active file that is empty because it was just rotated.
uint64_t NewestRotatedSeq(const std::string& path) {
  absl::StatusOr<std::vector<LogFiles::Rotated>> rotated = LogFiles::ListRotated(path);
  if (!rotated.ok() || rotated->empty()) return 0;
  const LogFiles::Rotated& newest = *std::max_element(
      rotated->begin(), rotated->end(), [](const LogFiles::Rotated& a, const LogFiles::Rotated& b) {
        return a.first_seq < b.first_seq;
      });
  absl::StatusOr<LogReader> reader = LogReader::Open(newest.path);
  if (!reader.ok()) return 0;
  uint64_t seq = 0;
  std::string line;
  while (true) {
    absl::StatusOr<LogReader::Result> next = reader->Next(&line);
    if (!next.ok() || *next == LogReader::Result::kNoLine) break;
    if (*next != LogReader::Result::kLine) continue;
    if (absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(line); rec.ok()) seq = rec->seq;
  }
  return seq;
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
  // Watch the directory before reading, so no event between the read and the watch is lost.
  const int in_fd = follow ? inotify_init1(IN_CLOEXEC | IN_NONBLOCK) : -1;
  if (follow && in_fd < 0) {
    err << "cordon audit tail: inotify_init1: " << strerror(errno) << "\n";
    return kExitUsage;
  }
  struct FdCloser {
    int fd;
    ~FdCloser() {
      if (fd >= 0) close(fd);
    }
  } in_closer{in_fd};
  if (follow) {
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    if (inotify_add_watch(in_fd, dir.c_str(),
                          IN_MODIFY | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE) < 0) {
      err << "cordon audit tail: inotify_add_watch " << dir << ": " << strerror(errno) << "\n";
      return kExitUsage;
    }
  }
  absl::StatusOr<LogReader> reader = LogReader::Open(path);
  if (!reader.ok()) {
    err << "cordon audit tail: " << reader.status().message() << "\n";
    return kExitUsage;
  }
  // First the last n records of the current file.
  std::deque<std::string> last;
  std::string line;
  std::string newest_line;  // the newest record present now, printed or not
  while (true) {
    absl::StatusOr<LogReader::Result> next = reader->Next(&line);
    if (!next.ok() || *next == LogReader::Result::kNoLine) break;
    if (*next != LogReader::Result::kLine) continue;
    newest_line = line;
    last.push_back(line);
    if (last.size() > n) last.pop_front();
  }
  // Following goes by seq, so it must start after the newest record that exists now, even
  // when fewer (or none, -n 0) are printed: otherwise the first rotation would make it
  // re-read the log from its first record.
  uint64_t newest_seq = 0;
  if (absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(newest_line); rec.ok()) {
    newest_seq = rec->seq;
  } else if (follow) {
    newest_seq = NewestRotatedSeq(path);
  }
  // The active file may hold fewer than n records right after a rotation: the rest come
  // from the newest rotated files. Only records older than what is already held are taken:
  // the file just read may itself have been rotated since, and must not count twice.
  if (last.size() < n) {
    uint64_t before_seq = UINT64_MAX;
    if (!last.empty()) {
      if (absl::StatusOr<ParsedRecord> front = RecordLine::Parse(last.front()); front.ok()) {
        before_seq = front->seq;
      }
    }
    absl::StatusOr<std::vector<LogFiles::Rotated>> rotated = LogFiles::ListRotated(path);
    if (rotated.ok()) {
      std::sort(rotated->begin(), rotated->end(),
                [](const LogFiles::Rotated& a, const LogFiles::Rotated& b) {
                  return a.first_seq > b.first_seq;
                });
      for (const LogFiles::Rotated& r : *rotated) {
        if (last.size() >= n) break;
        if (r.first_seq >= before_seq) continue;
        absl::StatusOr<LogReader> older = LogReader::Open(r.path);
        if (!older.ok()) break;
        // Keeps only the newest lines this file can contribute, however large it is.
        const uint64_t wanted = n - last.size();
        std::deque<std::string> lines;
        while (true) {
          absl::StatusOr<LogReader::Result> next = older->Next(&line);
          if (!next.ok() || *next == LogReader::Result::kNoLine) break;
          if (*next != LogReader::Result::kLine) continue;
          absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(line);
          if (rec.ok() && rec->seq >= before_seq) break;
          lines.push_back(line);
          if (lines.size() > wanted) lines.pop_front();
        }
        while (!lines.empty()) {
          last.push_front(std::move(lines.back()));
          lines.pop_back();
        }
        if (!last.empty()) {
          if (absl::StatusOr<ParsedRecord> front = RecordLine::Parse(last.front()); front.ok()) {
            before_seq = front->seq;
          }
        }
      }
    }
  }
  uint64_t printed = 0;
  uint64_t last_seq = 0;
  for (const std::string& l : last) {
    absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(l);
    if (!rec.ok()) continue;
    last_seq = rec->seq;
    out << (json ? l : TableRow(*rec)) << "\n";
    if (++printed >= max_records) return kExitOk;
  }
  last_seq = std::max(last_seq, newest_seq);
  out.flush();
  if (!follow) return kExitOk;
  while (true) {
    if (!DrainLines(*reader, json, max_records, &printed, &last_seq, out, err)) return kExitOk;
    // Rotation renames the active file away; everything written to it came before the
    // rename, so drain it to the end. The next record may already sit in a rotated file
    // (several rotations can happen between two looks), so follow the seq, not the name.
    struct stat now_st, cur_st;
    if (fstat(reader->fd(), &cur_st) == 0 && stat(path.c_str(), &now_st) == 0 &&
        (now_st.st_ino != cur_st.st_ino || now_st.st_dev != cur_st.st_dev)) {
      if (!DrainLines(*reader, json, max_records, &printed, &last_seq, out, err)) {
        return kExitOk;
      }
      auto rotated_with_next = [&path, &last_seq]() -> std::string {
        absl::StatusOr<std::vector<LogFiles::Rotated>> rotated = LogFiles::ListRotated(path);
        if (rotated.ok()) {
          for (const auto& r : *rotated) {
            if (r.first_seq == last_seq + 1) return r.path;
          }
        }
        return "";
      };
      std::string next_path = rotated_with_next();
      absl::StatusOr<LogReader> fresh = LogReader::Open(next_path.empty() ? path : next_path);
      if (fresh.ok() && next_path.empty()) {
        // The file holding the next record was active when listed, but may have rotated
        // before the open, which then got a newer file: look again, now that we hold one.
        if (std::string late = rotated_with_next(); !late.empty()) fresh = LogReader::Open(late);
      }
      if (fresh.ok()) {
        reader = std::move(fresh);
        continue;
      }
    }
    pollfd p{in_fd, POLLIN, 0};
    // The timeout only bounds how long a missed event could stall output.
    if (poll(&p, 1, 1000) < 0 && errno != EINTR) {
      err << "cordon audit tail: poll: " << strerror(errno) << "\n";
      return kExitUsage;
    }
    char events[4096];
    while (read(in_fd, events, sizeof events) > 0) {
    }
  }
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
    err << "cordon audit: unknown command '" << Safe(cmd) << "'\n" << kHelp;
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
