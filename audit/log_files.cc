#include "audit/log_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "audit/json_escape.h"
#include "audit/record_line.h"

namespace cordon::audit {
namespace {

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status ErrnoError(std::string_view what, const std::string& path, int e) {
  return absl::UnavailableError(absl::StrCat(ToAbsl(what), " ", path, ": ", strerror(e)));
}

}  // namespace

std::string LogFiles::RotatedName(const std::string& active_path, uint64_t first_seq) {
  return absl::StrFormat("%s.%020u", active_path, first_seq);
}

absl::StatusOr<std::vector<LogFiles::Rotated>> LogFiles::ListRotated(
    const std::string& active_path) {
  const std::string dir = DirName(active_path);
  const std::string prefix = BaseName(active_path) + ".";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("opendir", dir, errno);
  std::vector<Rotated> out;
  while (const dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name.size() != prefix.size() + 20 || name.substr(0, prefix.size()) != prefix) continue;
    const std::string_view digits = name.substr(prefix.size());
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    uint64_t seq = 0;
    if (!absl::SimpleAtoi(ToAbsl(digits), &seq)) continue;
    out.push_back(
        {seq, dir == "/" ? absl::StrCat("/", ToAbsl(name)) : absl::StrCat(dir, "/", ToAbsl(name))});
  }
  closedir(d);
  std::sort(out.begin(), out.end(),
            [](const Rotated& a, const Rotated& b) { return a.first_seq < b.first_seq; });
  return out;
}

absl::StatusOr<std::string> LogFiles::ReadTail(int fd, uint64_t size, uint64_t max_bytes) {
  const uint64_t n = std::min(size, max_bytes);
  std::string buf(n, '\0');
  uint64_t done = 0;
  while (done < n) {
    const ssize_t r = pread(fd, buf.data() + done, n - done, size - n + done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return absl::UnavailableError(absl::StrCat("pread: ", strerror(errno)));
    if (r == 0) break;
    done += r;
  }
  buf.resize(done);
  return buf;
}

absl::StatusOr<std::string> LogFiles::LastLine(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    return ErrnoError("fstat", path, e);
  }
  absl::StatusOr<std::string> tail = ReadTail(fd, st.st_size, 2 * RecordLine::kMaxLineBytes);
  close(fd);
  if (!tail.ok()) return tail.status();
  const size_t end = tail->rfind('\n');
  if (end == std::string::npos) return std::string();
  const size_t start = tail->rfind('\n', end == 0 ? 0 : end - 1);
  if (end == 0) return std::string();
  const size_t from = (start == std::string::npos || start >= end) ? 0 : start + 1;
  return tail->substr(from, end - from);
}

absl::Status LogFiles::SyncDirectory(const std::string& path) {
  const std::string dir = DirName(path);
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", dir, errno);
  const int rc = fsync(fd);
  const int e = errno;
  close(fd);
  if (rc != 0) return ErrnoError("fsync directory", dir, e);
  return absl::OkStatus();
}

}  // namespace cordon::audit
