#include "launcher/quota/cgroup_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cordon::quota::cgroupfs {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  std::string msg = absl::StrCat(what, " ", path, ": ", strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EBUSY:
    case ENOTEMPTY:
      return absl::FailedPreconditionError(msg);
    case EINVAL:
    case ERANGE:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountField(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\\' && i + 3 < in.size()) {
      const char a = in[i + 1], b = in[i + 2], c = in[i + 3];
      if (a >= '0' && a <= '3' && b >= '0' && b <= '7' && c >= '0' && c <= '7') {
        out.push_back(static_cast<char>((a - '0') * 64 + (b - '0') * 8 + (c - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

bool IsPathPrefix(absl::string_view prefix, absl::string_view path) {
  if (prefix == "/") return !path.empty() && path[0] == '/';
  if (!absl::StartsWith(path, prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

absl::Status RemoveTreeAt(const std::string& dir, const CgroupOptions& options, int depth) {
  // Plugins cannot normally nest cgroups, but a bound keeps a hostile tree from recursing us
  // out of stack.
  if (depth > 32)
    return absl::FailedPreconditionError(absl::StrCat("cgroup tree too deep at ", dir));
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, "opendir", dir);
  }
  std::vector<std::string> children;
  while (dirent* e = readdir(d)) {
    if (e->d_type != DT_DIR) continue;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    children.push_back(absl::StrCat(dir, "/", e->d_name));
  }
  closedir(d);
  for (const std::string& child : children) {
    if (absl::Status s = RemoveTreeAt(child, options, depth + 1); !s.ok()) return s;
  }
  if (options.before_rmdir_for_testing) options.before_rmdir_for_testing(dir);
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(errno, "rmdir", dir);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t cap) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoStatus(err, "read", path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > cap) {
      close(fd);
      return absl::ResourceExhaustedError(
          absl::StrCat("read ", path, ": larger than the ", cap, "-byte cap"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

absl::Status WriteFile(const std::string& path, absl::string_view value) {
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open for writing", path);
  ssize_t n;
  do {
    n = write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return ErrnoStatus(err, absl::StrCat("write '", value, "' to"), path);
  if (static_cast<size_t>(n) != value.size()) {
    return absl::InternalError(absl::StrCat("short write of '", value, "' to ", path));
  }
  return absl::OkStatus();
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

absl::StatusOr<uint64_t> ParseUint(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  uint64_t v = 0;
  if (text.empty() || !absl::SimpleAtoi(text, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("not an unsigned integer: '", text, "'"));
  }
  return v;
}

absl::StatusOr<std::map<std::string, uint64_t, std::less<>>> ParseFlatKeyed(
    absl::string_view text) {
  std::map<std::string, uint64_t, std::less<>> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("malformed 'key value' line: '", line, "'"));
    }
    absl::StatusOr<uint64_t> v = ParseUint(parts[1]);
    if (!v.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("malformed 'key value' line: '", line, "'"));
    }
    out[std::string(parts[0])] = *v;
  }
  return out;
}

absl::StatusOr<uint64_t> ReadUint(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 4096);
  if (!text.ok()) return text.status();
  absl::StatusOr<uint64_t> v = ParseUint(*text);
  if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", v.status().message()));
  return v;
}

absl::StatusOr<uint64_t> ReadKey(const std::string& path, absl::string_view key) {
  absl::StatusOr<std::string> text = ReadFile(path, 64 * 1024);
  if (!text.ok()) return text.status();
  auto kv = ParseFlatKeyed(*text);
  if (!kv.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", kv.status().message()));
  auto it = kv->find(key);
  if (it == kv->end()) return absl::NotFoundError(absl::StrCat(path, ": no key '", key, "'"));
  return it->second;
}

absl::StatusOr<std::vector<pid_t>> ReadPids(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::vector<pid_t> pids;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
    int pid = 0;
    if (!absl::SimpleAtoi(line, &pid) || pid <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": bad pid line '", line, "'"));
    }
    pids.push_back(pid);
  }
  return pids;
}

absl::StatusOr<std::vector<Mount>> ParseMountinfo(absl::string_view text) {
  std::vector<Mount> mounts;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    size_t sep = 0;
    for (size_t i = 6; i < f.size(); ++i) {
      if (f[i] == "-") {
        sep = i;
        break;
      }
    }
    if (sep == 0 || sep + 2 >= f.size()) {
      return absl::InvalidArgumentError(absl::StrCat("malformed mountinfo line: '", line, "'"));
    }
    Mount m;
    m.root = UnescapeMountField(f[3]);
    m.mount_point = UnescapeMountField(f[4]);
    m.fstype = std::string(f[sep + 1]);
    if (sep + 3 < f.size()) {
      for (absl::string_view o : absl::StrSplit(f[sep + 3], ',', absl::SkipEmpty())) {
        m.options.emplace_back(o);
      }
    }
    mounts.push_back(std::move(m));
  }
  return mounts;
}

absl::StatusOr<std::vector<ProcCgroupEntry>> ParseProcCgroup(absl::string_view text) {
  std::vector<ProcCgroupEntry> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3 || f[2].empty() || f[2][0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed /proc/self/cgroup line: '", line, "'"));
    }
    ProcCgroupEntry e;
    if (!absl::SimpleAtoi(f[0], &e.hierarchy_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed /proc/self/cgroup line: '", line, "'"));
    }
    for (absl::string_view c : absl::StrSplit(f[1], ',', absl::SkipEmpty()))
      e.controllers.emplace_back(c);
    e.path = std::string(f[2]);
    out.push_back(std::move(e));
  }
  return out;
}

bool Hierarchy::Has(absl::string_view controller) const {
  for (const std::string& c : controllers) {
    if (c == controller) return true;
  }
  return false;
}

std::optional<std::string> Hierarchy::DirFor(absl::string_view cgroup_path) const {
  if (!IsPathPrefix(mount_root, cgroup_path)) return std::nullopt;
  absl::string_view rest = cgroup_path.substr(mount_root == "/" ? 0 : mount_root.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string mp = mount_point;
  while (mp.size() > 1 && mp.back() == '/') mp.pop_back();
  return absl::StrCat(mp, rest);
}

std::string Hierarchy::ParentPath(const CgroupOptions& options) const {
  if (!options.parent_override.empty()) return options.parent_override;
  const std::string suffix = absl::StrCat("/", kLauncherLeaf);
  if (version == 2 && absl::EndsWith(own_path, suffix)) {
    std::string up = own_path.substr(0, own_path.size() - suffix.size());
    return up.empty() ? "/" : up;
  }
  return own_path;
}

absl::StatusOr<std::vector<Hierarchy>> DiscoverHierarchies(const CgroupOptions& options) {
  absl::StatusOr<std::string> mi = ReadFile(options.mountinfo_path);
  if (!mi.ok()) return mi.status();
  absl::StatusOr<std::vector<Mount>> mounts = ParseMountinfo(*mi);
  if (!mounts.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.mountinfo_path, ": ", mounts.status().message()));
  }
  absl::StatusOr<std::string> pc = ReadFile(options.proc_self_cgroup_path);
  if (!pc.ok()) return pc.status();
  absl::StatusOr<std::vector<ProcCgroupEntry>> entries = ParseProcCgroup(*pc);
  if (!entries.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.proc_self_cgroup_path, ": ", entries.status().message()));
  }
  std::vector<Hierarchy> out;
  for (const ProcCgroupEntry& e : *entries) {
    const bool v2 = e.hierarchy_id == 0 && e.controllers.empty();
    if (!v2 && e.controllers.empty()) continue;
    if (!v2 && absl::StartsWith(e.controllers[0], "name=")) continue;
    for (const Mount& m : *mounts) {
      bool match = false;
      if (v2) {
        match = m.fstype == "cgroup2";
      } else if (m.fstype == "cgroup") {
        // A v1 mount carries exactly the controllers of its hierarchy in its super options.
        match = true;
        for (const std::string& c : e.controllers) {
          bool found = false;
          for (const std::string& o : m.options) found |= (o == c);
          match &= found;
        }
      }
      if (!match) continue;
      Hierarchy h;
      h.version = v2 ? 2 : 1;
      h.controllers = e.controllers;
      h.mount_point = m.mount_point;
      h.mount_root = m.root;
      h.own_path = e.path;
      // A bind mount of a subtree that does not contain us is useless; try the next mount.
      if (!h.DirFor(e.path).has_value()) continue;
      out.push_back(std::move(h));
      break;
    }
  }
  return out;
}

absl::StatusOr<uint64_t> ReadProcStartTime(const std::string& proc_root, pid_t pid) {
  std::string path = absl::StrCat(proc_root, "/", pid, "/stat");
  absl::StatusOr<std::string> text = ReadFile(path, 8192);
  if (!text.ok()) return text.status();
  // comm (field 2) may contain spaces and parentheses; the fields after the last ')' are fixed.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return absl::InvalidArgumentError(absl::StrCat(path, ": no ')'"));
  std::vector<absl::string_view> f =
      absl::StrSplit(absl::string_view(*text).substr(close + 1), ' ', absl::SkipEmpty());
  // After ')' come field 3 (state) onwards; start time is field 22.
  constexpr size_t kStartTimeIndex = 22 - 3;
  if (f.size() <= kStartTimeIndex) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": too few fields"));
  }
  absl::StatusOr<uint64_t> v = ParseUint(f[kStartTimeIndex]);
  if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", v.status().message()));
  return v;
}

std::string SanitisePluginName(absl::string_view name) {
  std::string out;
  for (char c : name.substr(0, kMaxPluginNameInCgroup)) {
    out.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ? c
                                                                                             : '_');
  }
  if (out.empty()) out = "plugin";
  return out;
}

std::string FormatCgroupName(const CgroupName& name) {
  return absl::StrCat(name.launcher_pid, ".", name.launcher_start_time, ".", name.seq, "-",
                      SanitisePluginName(name.plugin));
}

std::optional<CgroupName> ParseCgroupName(absl::string_view text) {
  size_t dash = text.find('-');
  if (dash == absl::string_view::npos || dash + 1 >= text.size()) return std::nullopt;
  std::vector<absl::string_view> nums = absl::StrSplit(text.substr(0, dash), '.');
  if (nums.size() != 3) return std::nullopt;
  CgroupName n;
  int pid = 0;
  if (!absl::SimpleAtoi(nums[0], &pid) || pid <= 0) return std::nullopt;
  if (!absl::SimpleAtoi(nums[1], &n.launcher_start_time)) return std::nullopt;
  if (!absl::SimpleAtoi(nums[2], &n.seq)) return std::nullopt;
  n.launcher_pid = pid;
  n.plugin = std::string(text.substr(dash + 1));
  return n;
}

absl::Status MakeDir(const std::string& dir, bool exist_ok, const CgroupOptions& options) {
  if (mkdir(dir.c_str(), 0755) != 0) {
    if (errno == EEXIST && exist_ok) return absl::OkStatus();
    if (errno == EEXIST) return absl::AlreadyExistsError(absl::StrCat("mkdir ", dir, ": exists"));
    return ErrnoStatus(errno, "mkdir", dir);
  }
  if (options.on_mkdir_for_testing) options.on_mkdir_for_testing(dir);
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& dir, const CgroupOptions& options) {
  return RemoveTreeAt(dir, options, 0);
}

}  // namespace cordon::quota::cgroupfs
