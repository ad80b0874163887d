#include "audit/log_tail.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "audit/log_files.h"
#include "audit/log_reader.h"
#include "audit/record_line.h"
#include "audit/record_table.h"

namespace cordon::audit {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;

// Emits complete lines of `reader`; returns false when --max-records is reached.
bool DrainLines(LogReader& reader, bool json, uint64_t max_records, uint64_t* printed,
                uint64_t* last_seq, std::ostream& out, std::ostream& err) {
  std::string line;
  while (true) {
    const uint64_t rewinds = reader.rewinds();
    absl::StatusOr<LogReader::Result> next = reader.Next(&line);
    if (reader.rewinds() != rewinds) {
      err << "cordon audit tail: " << reader.path() << " was cut shorter than what was read; "
          << "reading it again from the start\n";
    }
    if (!next.ok() || *next == LogReader::Result::kNoLine) return true;
    if (*next != LogReader::Result::kLine) continue;
    absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(line);
    if (!rec.ok()) {
      err << "cordon audit tail: skipping unreadable record: " << rec.status().message() << "\n";
      continue;
    }
    *last_seq = rec->seq;
    out << (json ? line : RecordTable::Row(*rec)) << "\n";
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

}  // namespace

int LogTail::Run(const Options& options, std::ostream& out, std::ostream& err) {
  const std::string& path = options.path;
  const bool json = options.json;
  const bool follow = options.follow;
  const uint64_t n = options.last;
  const uint64_t max_records = options.max_records;
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
    out << (json ? l : RecordTable::Row(*rec)) << "\n";
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

}  // namespace cordon::audit
