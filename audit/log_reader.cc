#include "audit/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "audit/log_files.h"
#include "audit/record_line.h"

namespace cordon::audit {

absl::StatusOr<LogReader> LogReader::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("audit log ", path, ": open: ", strerror(errno)));
  }
  LogReader r;
  r.path_ = path;
  r.fd_ = fd;
  return r;
}

LogReader::LogReader(LogReader&& o) noexcept { *this = std::move(o); }

LogReader& LogReader::operator=(LogReader&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    o.fd_ = -1;
    buf_ = std::move(o.buf_);
    pos_ = o.pos_;
    buf_offset_ = o.buf_offset_;
    line_offset_ = o.line_offset_;
    skipping_ = o.skipping_;
    held_at_eof_ = o.held_at_eof_;
    rewinds_ = o.rewinds_;
  }
  return *this;
}

LogReader::~LogReader() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<LogReader::Result> LogReader::Next(std::string* line) {
  constexpr size_t kChunk = 1 << 20;
  while (true) {
    const size_t nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      const uint64_t start = buf_offset_ + pos_;
      const bool was_skipping = skipping_;
      skipping_ = false;
      if (!was_skipping) line->assign(buf_, pos_, nl - pos_);
      pos_ = nl + 1;
      line_offset_ = start;
      if (was_skipping) return Result::kTooLong;
      if (line->size() > RecordLine::kMaxLineBytes) return Result::kTooLong;
      return Result::kLine;
    }
    if (buf_.size() - pos_ > RecordLine::kMaxLineBytes) {
      // Drop the oversized partial line rather than buffer an attacker-sized file.
      skipping_ = true;
      buf_offset_ += buf_.size();
      buf_.clear();
      pos_ = 0;
    }
    // Compact, then read more.
    if (pos_ > 0) {
      buf_.erase(0, pos_);
      buf_offset_ += pos_;
      pos_ = 0;
    }
    const size_t old = buf_.size();
    buf_.resize(old + kChunk);
    ssize_t n;
    do {
      n = read(fd_, buf_.data() + old, kChunk);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      buf_.resize(old);
      return absl::UnavailableError(absl::StrCat("audit log ", path_, ": read: ", strerror(errno)));
    }
    buf_.resize(old + n);
    if (n == 0) {
      // Following a live file: a restart that cut a torn record shrinks it under us.
      if (absl::StatusOr<bool> shrank = ShrankBelowPosition(); !shrank.ok()) {
        return shrank.status();
      } else if (*shrank) {
        continue;
      }
      held_at_eof_ = !buf_.empty();
      return Result::kNoLine;
    }
    if (held_at_eof_) {
      held_at_eof_ = false;
      // The partial line held since the last end of file must still be what the file says, or
      // the file was cut and written again (a restart replaced a torn record): joining the old
      // bytes to the new ones would make a garbled line.
      if (absl::StatusOr<bool> rewritten = HeldBytesRewritten(old); !rewritten.ok()) {
        return rewritten.status();
      } else if (*rewritten) {
        continue;
      }
    }
  }
}

absl::StatusOr<bool> LogReader::ShrankBelowPosition() {
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    return absl::UnavailableError(absl::StrCat("audit log ", path_, ": fstat: ", strerror(errno)));
  }
  if (static_cast<uint64_t>(st.st_size) >= buf_offset_ + buf_.size()) return false;
  return Resync(st.st_size);
}

absl::StatusOr<bool> LogReader::HeldBytesRewritten(size_t held) {
  std::string now(held, '\0');
  ssize_t n;
  do {
    n = pread(fd_, now.data(), held, static_cast<off_t>(buf_offset_));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return absl::UnavailableError(absl::StrCat("audit log ", path_, ": pread: ", strerror(errno)));
  }
  if (static_cast<size_t>(n) == held && std::string_view(buf_).substr(0, held) == now) return false;
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    return absl::UnavailableError(absl::StrCat("audit log ", path_, ": fstat: ", strerror(errno)));
  }
  return Resync(st.st_size);
}

absl::StatusOr<bool> LogReader::Resync(uint64_t size) {
  // Recovery cuts at the start of the torn line, which is where the held bytes begin; a file
  // cut shorter than that was rewritten some other way, and is read again from its start.
  const uint64_t restart = buf_offset_ <= size ? buf_offset_ : 0;
  if (buf_offset_ > size) ++rewinds_;
  if (lseek(fd_, static_cast<off_t>(restart), SEEK_SET) < 0) {
    return absl::UnavailableError(absl::StrCat("audit log ", path_, ": lseek: ", strerror(errno)));
  }
  buf_.clear();
  pos_ = 0;
  buf_offset_ = restart;
  skipping_ = false;
  held_at_eof_ = false;
  return true;
}

absl::StatusOr<std::vector<std::string>> LogReader::OrderFiles(std::vector<std::string> files,
                                                               bool add_rotated) {
  if (add_rotated) {
    std::set<std::string> seen(files.begin(), files.end());
    std::vector<std::string> extra;
    for (const std::string& f : files) {
      absl::StatusOr<std::vector<LogFiles::Rotated>> rotated = LogFiles::ListRotated(f);
      if (!rotated.ok()) continue;
      for (const auto& r : *rotated) {
        if (seen.insert(r.path).second) extra.push_back(r.path);
      }
    }
    files.insert(files.end(), extra.begin(), extra.end());
  }
  std::vector<std::pair<uint64_t, std::string>> keyed;
  for (std::string& f : files) {
    absl::StatusOr<LogReader> r = Open(f);
    if (!r.ok()) return r.status();
    uint64_t key = UINT64_MAX;
    std::string line;
    absl::StatusOr<Result> res = r->Next(&line);
    if (res.ok() && *res == Result::kLine) {
      if (absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(line); rec.ok()) key = rec->seq;
    }
    keyed.emplace_back(key, std::move(f));
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& [k, f] : keyed) out.push_back(std::move(f));
  return out;
}

}  // namespace cordon::audit
