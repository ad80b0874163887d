#include "launcher/broker/fd_census.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ipc/unique_fd.h"

namespace cordon::broker {
namespace {

constexpr size_t kMaxProcesses = 4096;
constexpr size_t kMaxChildrenBytes = 64 * 1024;

// Lists numeric entries of a directory opened relative to nothing (absolute path).
std::vector<std::string> NumericEntries(const std::string& dir) {
  std::vector<std::string> out;
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return out;
  }
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.emplace_back(e->d_name);
  }
  closedir(d);
  return out;
}

std::string ReadSmall(const std::string& path) {
  ipc::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string out;
  if (!fd.valid()) return out;
  char buf[4096];
  while (out.size() < kMaxChildrenBytes) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

FdCensus::FdCensus(uint64_t limit, Scanner scanner) : limit_(limit), scanner_(std::move(scanner)) {}

absl::Status FdCensus::Reserve(uint64_t* observed) {
  if (limit_ == 0) {
    ++reserved_;
    return absl::OkStatus();
  }
  if (held_.size() + reserved_ >= limit_ && scanner_) {
    absl::StatusOr<std::set<FileId>> live = scanner_();
    if (live.ok()) {
      for (auto it = held_.begin(); it != held_.end();) {
        it = live->count(*it) ? std::next(it) : held_.erase(it);
      }
    }
  }
  if (held_.size() + reserved_ >= limit_) {
    *observed = held_.size() + reserved_;
    return absl::ResourceExhaustedError(absl::StrCat("plugin holds ", *observed,
                                                     " brokered fds, the limit is ", limit_,
                                                     "; close some before asking for more"));
  }
  ++reserved_;
  return absl::OkStatus();
}

void FdCensus::Commit(const struct stat& st) {
  if (reserved_ > 0) --reserved_;
  if (limit_ != 0) held_.insert({st.st_dev, st.st_ino});
}

void FdCensus::Cancel() {
  if (reserved_ > 0) --reserved_;
}

absl::StatusOr<std::set<FileId>> FdCensus::ScanProcessTree(pid_t pid) {
  std::set<FileId> ids;
  std::deque<std::string> queue{absl::StrCat(pid)};
  std::set<std::string> seen;
  while (!queue.empty() && seen.size() < kMaxProcesses) {
    std::string p = queue.front();
    queue.pop_front();
    if (!seen.insert(p).second) continue;
    std::string base = absl::StrCat("/proc/", p);
    for (const std::string& fd : NumericEntries(base + "/fd")) {
      struct stat st;
      if (stat(absl::StrCat(base, "/fd/", fd).c_str(), &st) == 0)
        ids.insert({st.st_dev, st.st_ino});
    }
    for (const std::string& tid : NumericEntries(base + "/task")) {
      std::string children = ReadSmall(absl::StrCat(base, "/task/", tid, "/children"));
      for (absl::string_view c : absl::StrSplit(children, ' ', absl::SkipWhitespace())) {
        queue.emplace_back(c);
      }
    }
  }
  if (seen.empty()) return absl::NotFoundError(absl::StrCat("no process ", pid));
  return ids;
}

}  // namespace cordon::broker
