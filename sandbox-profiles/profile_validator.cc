#include "sandbox-profiles/profile_validator.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sandbox-profiles/string_view_compat.h"
#include "sandbox-profiles/syscall_groups.h"

namespace cordon::profiles {
namespace {

using cordon::v1::Mount;

constexpr uint64_t kMiB = 1024 * 1024;

class Collector {
 public:
  void Add(std::string field, std::string message) {
    issues_.push_back(ProfileIssue{std::move(field), std::move(message)});
  }
  std::vector<ProfileIssue> Take() { return std::move(issues_); }

 private:
  std::vector<ProfileIssue> issues_;
};

bool IsEnvKey(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  if (!absl::ascii_isalpha(key[0]) && key[0] != '_') return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

bool IsUnderOrEqual(std::string_view path, std::string_view dir) {
  return path == dir ||
         (path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/');
}

void CheckMounts(const cordon::v1::Profile& profile, Collector& out) {
  if (static_cast<size_t>(profile.mounts_size()) > ProfileValidator::kMaxMounts) {
    out.Add("mounts", absl::StrCat("has ", profile.mounts_size(), " entries; at most ",
                                   ProfileValidator::kMaxMounts, " are allowed"));
    return;
  }
  std::set<std::string> destinations;
  for (int i = 0; i < profile.mounts_size(); ++i) {
    const Mount& m = profile.mounts(i);
    const std::string at = absl::StrCat("mounts[", i, "]");
    const bool is_bind = m.type() == Mount::BIND_RO || m.type() == Mount::BIND_RW;
    if (m.type() == Mount::TYPE_UNSPECIFIED) {
      out.Add(at + ".type", "missing; set type: BIND_RO, BIND_RW or TMPFS");
      continue;
    }
    if (is_bind) {
      if (m.source().empty()) {
        out.Add(at + ".source", "missing; a bind mount needs the host path to bind");
      } else if (std::string p = ProfileValidator::PathProblem(m.source()); !p.empty()) {
        out.Add(at + ".source", absl::StrCat("\"", absl::CEscape(m.source()), "\" ", p));
      }
      if (m.size_bytes() != 0) {
        out.Add(at + ".size_bytes", "only applies to TMPFS mounts; remove it");
      }
    } else {
      if (!m.source().empty()) {
        out.Add(at + ".source", "a TMPFS mount has no source; remove it");
      }
      if (m.destination().empty()) {
        out.Add(at + ".destination", "missing; a TMPFS mount needs a destination such as /tmp");
      }
      if (m.size_bytes() == 0) {
        out.Add(at + ".size_bytes",
                "missing or 0; a TMPFS mount needs a size cap, e.g. size_bytes: 67108864 (64 "
                "MiB)");
      }
      if (m.optional()) out.Add(at + ".optional", "only applies to bind mounts; remove it");
    }
    const std::string dest = m.destination().empty() ? m.source() : m.destination();
    if (dest.empty()) continue;
    if (!m.destination().empty()) {
      if (std::string p = ProfileValidator::PathProblem(dest); !p.empty()) {
        out.Add(at + ".destination", absl::StrCat("\"", absl::CEscape(dest), "\" ", p));
        continue;
      }
    } else if (!ProfileValidator::PathProblem(dest).empty()) {
      continue;  // already reported on source
    }
    const std::string field = at + (m.destination().empty() ? ".source" : ".destination");
    if (dest == "/") {
      out.Add(field,
              "cannot mount over /; the sandbox root is always a fresh tmpfs, mount "
              "under it instead");
    } else if (IsUnderOrEqual(dest, "/proc") || IsUnderOrEqual(dest, "/dev")) {
      out.Add(field, absl::StrCat("\"", dest,
                                  "\" is reserved: the launcher always provides a fresh /proc "
                                  "and a minimal /dev; choose another destination"));
    } else if (!destinations.insert(dest).second) {
      out.Add(field, absl::StrCat("\"", dest,
                                  "\" is already the destination of an earlier "
                                  "mount; remove one of them"));
    }
  }
}

void CheckEnv(const cordon::v1::Profile& profile, Collector& out) {
  if (static_cast<size_t>(profile.env_size()) > ProfileValidator::kMaxEnv) {
    out.Add("env", absl::StrCat("has ", profile.env_size(), " entries; at most ",
                                ProfileValidator::kMaxEnv, " are allowed"));
    return;
  }
  std::set<std::string> keys;
  for (int i = 0; i < profile.env_size(); ++i) {
    const std::string& entry = profile.env(i);
    const std::string at = absl::StrCat("env[", i, "]");
    if (entry.size() > ProfileValidator::kMaxEnvEntryBytes) {
      out.Add(at, absl::StrCat("is ", entry.size(), " bytes; at most ",
                               ProfileValidator::kMaxEnvEntryBytes, " are allowed"));
      continue;
    }
    size_t eq = entry.find('=');
    if (eq == std::string::npos) {
      out.Add(at, absl::StrCat("\"", absl::CEscape(entry), "\" is not KEY=VALUE; write e.g. \"",
                               absl::CEscape(entry), "=value\""));
      continue;
    }
    std::string key = entry.substr(0, eq);
    if (!IsEnvKey(key)) {
      out.Add(at, absl::StrCat("key \"", absl::CEscape(key),
                               "\" is not a valid variable name; use letters, digits and _, "
                               "not starting with a digit"));
      continue;
    }
    if (entry.find('\0') != std::string::npos) {
      out.Add(at, "contains a NUL byte, which cannot be passed in an environment");
      continue;
    }
    if (!keys.insert(key).second) {
      out.Add(at, absl::StrCat("sets ", key, " a second time; keep one entry"));
    }
  }
}

void CheckIds(const cordon::v1::Profile& profile, Collector& out) {
  const cordon::v1::UserMapping& u = profile.user();
  const std::pair<const char*, uint32_t> ids[] = {{"user.host_uid", u.host_uid()},
                                                  {"user.host_gid", u.host_gid()},
                                                  {"user.sandbox_uid", u.sandbox_uid()},
                                                  {"user.sandbox_gid", u.sandbox_gid()}};
  for (const auto& [field, id] : ids) {
    // (uid_t)-1 means "no change" to set*id() and is never a real id.
    if (id == 0xffffffffu) out.Add(field, "4294967295 ((uid_t)-1) is not a usable id");
  }
}

void CheckLimits(const cordon::v1::Profile& profile, Collector& out) {
  const cordon::v1::Limits& l = profile.limits();
  if (l.memory_bytes() != 0 && l.memory_bytes() < 4 * kMiB) {
    out.Add("limits.memory_bytes", absl::StrCat(l.memory_bytes(),
                                                " is below 4 MiB, too little to start any program; "
                                                "use e.g. 536870912 (512 MiB) or 0 for no limit"));
  }
  if (l.pids() == 1) {
    out.Add("limits.pids",
            "1 leaves no room for the program beside the sandbox's init; use at "
            "least 2, or 0 for no limit");
  }
  if (l.cpu_rate_percent() > 100 * 1024) {
    out.Add("limits.cpu_rate_percent",
            absl::StrCat(l.cpu_rate_percent(), " is more than 1024 cores; 100 is one core"));
  }
  if (l.open_files() != 0 && (l.open_files() < 4 || l.open_files() > 1048576)) {
    out.Add("limits.open_files",
            absl::StrCat(l.open_files(), " is outside 4..1048576 (stdio and the channel need 4)"));
  }
  if (l.stack_bytes() != 0 && l.stack_bytes() < 64 * 1024) {
    out.Add("limits.stack_bytes",
            absl::StrCat(l.stack_bytes(),
                         " is below 64 KiB; programs would crash at start; use "
                         "e.g. 8388608 (8 MiB) or 0 for the default"));
  }
  constexpr uint64_t kYearSeconds = 366ull * 24 * 3600;
  if (l.cpu_time_seconds() > kYearSeconds) {
    out.Add("limits.cpu_time_seconds", "is more than a year; use 0 for no limit");
  }
  if (l.wall_time_ms() > kYearSeconds * 1000) {
    out.Add("limits.wall_time_ms", "is more than a year; use 0 for no limit");
  }
}

void CheckSyscallNames(const google::protobuf::RepeatedPtrField<std::string>& names,
                       std::string_view field, Collector& out) {
  for (int i = 0; i < names.size(); ++i) {
    const std::string at = absl::StrCat("seccomp.", Av(field), "[", i, "]");
    const std::string& name = names[i];
    if (!SyscallGroups::Number(name)) {
      out.Add(at, absl::StrCat("unknown x86_64 syscall '", absl::CEscape(name),
                               "'; use the kernel's name (e.g. 'openat', 'newfstatat')"));
    } else if (field == "allow" && SyscallGroups::IsNeverAllowed(name)) {
      out.Add(at, absl::StrCat("'", name,
                               "' is never allowed (it can escape or weaken the sandbox); if "
                               "you really need it, move it to seccomp.danger_allow"));
    } else if (field == "allow" && name == "clone3") {
      out.Add(at,
              "'clone3' is always answered ENOSYS (libc then uses clone, whose flags the "
              "filter can check); remove it");
    } else if (field == "danger_allow" && !SyscallGroups::IsNeverAllowed(name)) {
      out.Add(at, absl::StrCat("'", name,
                               "' is not on the never-allowed list; move it to seccomp.allow"));
    }
  }
}

void CheckSeccomp(const cordon::v1::Profile& profile, Collector& out) {
  const cordon::v1::SeccompPolicy& s = profile.seccomp();
  Collector local;
  for (int i = 0; i < s.groups_size(); ++i) {
    if (auto group = SyscallGroups::Lookup(s.groups(i)); !group.ok()) {
      local.Add(absl::StrCat("seccomp.groups[", i, "]"), std::string(group.status().message()));
    }
  }
  CheckSyscallNames(s.allow(), "allow", local);
  CheckSyscallNames(s.deny(), "deny", local);
  CheckSyscallNames(s.danger_allow(), "danger_allow", local);
  std::vector<ProfileIssue> issues = local.Take();
  if (issues.empty()) {
    auto resolved = SyscallGroups::Resolve(s);
    if (!resolved.ok()) {
      issues.push_back(ProfileIssue{"seccomp", std::string(resolved.status().message())});
    } else {
      bool execve = false, execveat = false;
      for (const auto& entry : *resolved) {
        execve |= entry.name == "execve";
        execveat |= entry.name == "execveat";
      }
      if (!execve || !execveat) {
        issues.push_back(
            ProfileIssue{"seccomp",
                         "execve and execveat must be allowed: the launcher loads the filter "
                         "and then execs the program; add group \"base\" or allow them"});
      }
    }
  }
  for (ProfileIssue& issue : issues) out.Add(std::move(issue.field), std::move(issue.message));
}

}  // namespace

std::string ProfileValidator::PathProblem(std::string_view path) {
  if (path.size() > kMaxPathBytes) return absl::StrCat("is longer than ", kMaxPathBytes, " bytes");
  if (path.find('\0') != std::string_view::npos) return "contains a NUL byte";
  if (path.empty() || path[0] != '/') return "is not absolute; write it starting with /";
  if (path == "/") return "";
  if (path.back() == '/') return "ends with /; remove the trailing slash";
  for (absl::string_view part : absl::StrSplit(Av(path.substr(1)), '/')) {
    if (part.empty()) return "contains an empty component (//); write it normalized";
    if (part == ".") return "contains a '.' component; write it normalized";
    if (part == "..") return "contains a '..' component; write the path without it";
  }
  return "";
}

std::vector<ProfileIssue> ProfileValidator::Check(const cordon::v1::Profile& profile) {
  Collector out;
  const std::string& name = profile.name();
  if (name.size() > 64) out.Add("name", "is longer than 64 characters");
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') {
      out.Add("name", absl::StrCat("\"", absl::CEscape(name),
                                   "\" may only contain letters, digits, '-', '_' and '.'"));
      break;
    }
  }
  if (profile.description().size() > 4096) out.Add("description", "is longer than 4096 bytes");
  CheckMounts(profile, out);
  const std::string& host = profile.hostname();
  if (!host.empty()) {
    bool ok = host.size() <= 64 && host.front() != '-' && host.back() != '-';
    for (char c : host) ok = ok && (absl::ascii_isalnum(c) || c == '-' || c == '.');
    if (!ok) {
      out.Add("hostname", absl::StrCat("\"", absl::CEscape(host),
                                       "\" is not a hostname; use up to 64 letters, digits, '-' "
                                       "and '.', e.g. \"cordon\""));
    }
  }
  CheckIds(profile, out);
  CheckEnv(profile, out);
  if (!profile.workdir().empty()) {
    if (std::string p = PathProblem(profile.workdir()); !p.empty()) {
      out.Add("workdir", absl::StrCat("\"", absl::CEscape(profile.workdir()), "\" ", p));
    }
  }
  CheckLimits(profile, out);
  CheckSeccomp(profile, out);
  return out.Take();
}

absl::Status ProfileValidator::Validate(const cordon::v1::Profile& profile,
                                        std::string_view source_name) {
  std::vector<ProfileIssue> issues = Check(profile);
  if (issues.empty()) return absl::OkStatus();
  std::vector<std::string> lines;
  for (const ProfileIssue& issue : issues) {
    lines.push_back(absl::StrCat(Av(source_name), ": ", issue.field, ": ", issue.message));
  }
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

}  // namespace cordon::profiles
