#include "launcher/quota/cgroup_v2_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cordon::quota {
namespace {

constexpr uint64_t kCpuPeriodUs = 100000;

absl::StatusOr<std::vector<std::string>> ReadTokens(const std::string& path) {
  absl::StatusOr<std::string> text = cgroupfs::ReadFile(path, 4096);
  if (!text.ok()) return text.status();
  return std::vector<std::string>(absl::StrSplit(*text, absl::ByAnyChar(" \n"), absl::SkipEmpty()));
}

bool Contains(const std::vector<std::string>& v, absl::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Enables `wanted` controllers for the children of `dir`. The kernel refuses that (EBUSY) while
// `dir` itself holds processes, except at the hierarchy root. When the only process there is
// this launcher and we may move it, it moves into a sibling leaf first.
absl::Status EnableControllers(const std::string& dir, const std::vector<std::string>& wanted,
                               bool may_move_self, const CgroupOptions& options) {
  absl::StatusOr<std::vector<std::string>> enabled = ReadTokens(dir + "/cgroup.subtree_control");
  if (!enabled.ok()) return enabled.status();
  std::vector<std::string> missing;
  for (const std::string& c : wanted) {
    if (!Contains(*enabled, c)) missing.push_back(c);
  }
  if (missing.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<pid_t>> procs = cgroupfs::ReadPids(dir + "/cgroup.procs");
  if (!procs.ok()) return procs.status();
  if (!procs->empty()) {
    const bool only_us = procs->size() == 1 && (*procs)[0] == getpid();
    if (!only_us || !may_move_self) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cgroup v2: cannot enable ", absl::StrJoin(missing, ","), " in ", dir, ": it holds ",
          procs->size(), " process(es) ",
          only_us ? "(this launcher; the parent was configured)" : "other than this launcher",
          " and cgroup v2 forbids controllers on a cgroup with processes; run cordon in a "
          "delegated cgroup of its own (systemd Delegate=yes) or configure an empty parent"));
    }
    const std::string leaf = absl::StrCat(dir, "/", cgroupfs::kLauncherLeaf);
    if (absl::Status s = cgroupfs::MakeDir(leaf, /*exist_ok=*/true, options); !s.ok()) return s;
    if (absl::Status s = cgroupfs::WriteFile(leaf + "/cgroup.procs", absl::StrCat(getpid()));
        !s.ok()) {
      return s;
    }
  }
  std::vector<std::string> plus;
  for (const std::string& c : missing) plus.push_back("+" + c);
  return cgroupfs::WriteFile(dir + "/cgroup.subtree_control", absl::StrJoin(plus, " "));
}

absl::Status ReadOptional(const std::string& path, absl::string_view key, uint64_t scale,
                          uint64_t* out) {
  absl::StatusOr<uint64_t> v =
      key.empty() ? cgroupfs::ReadUint(path) : cgroupfs::ReadKey(path, key);
  if (v.ok()) {
    *out = *v * scale;
    return absl::OkStatus();
  }
  if (absl::IsNotFound(v.status())) return absl::OkStatus();
  return v.status();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CgroupV2Backend>> CgroupV2Backend::Create(
    const CgroupOptions& options, const cgroupfs::Hierarchy& hierarchy, absl::string_view leaf_name,
    const QuotaLimits& limits) {
  const bool configured = !options.parent_override.empty();
  const std::string parent = hierarchy.ParentPath(options);
  std::optional<std::string> parent_dir = hierarchy.DirFor(parent);
  if (!parent_dir.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("cgroup v2: parent cgroup ", parent,
                                                      " is not visible below mount ",
                                                      hierarchy.mount_point));
  }
  absl::StatusOr<std::vector<std::string>> available =
      ReadTokens(*parent_dir + "/cgroup.controllers");
  if (!available.ok()) return available.status();
  std::vector<std::string> wanted;
  std::vector<std::string> missing;
  for (absl::string_view c : {"memory", "pids", "cpu"}) {
    const bool required = c != "cpu" || limits.cpu_rate_percent > 0;
    if (Contains(*available, c)) {
      wanted.emplace_back(c);
    } else if (required) {
      missing.emplace_back(c);
    }
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cgroup v2: ", *parent_dir, "/cgroup.controllers offers '", absl::StrJoin(*available, " "),
        "' but cordon needs ", absl::StrJoin(missing, ","),
        "; delegate them to this cgroup (enable them in every ancestor's cgroup.subtree_control)"));
  }
  if (absl::Status s =
          EnableControllers(*parent_dir, wanted, /*may_move_self=*/!configured, options);
      !s.ok()) {
    return s;
  }
  const std::string cordon_dir = absl::StrCat(*parent_dir, "/", cgroupfs::kCordonDir);
  if (absl::Status s = cgroupfs::MakeDir(cordon_dir, /*exist_ok=*/true, options); !s.ok()) return s;
  if (absl::Status s = EnableControllers(cordon_dir, wanted, /*may_move_self=*/false, options);
      !s.ok()) {
    return s;
  }
  const std::string leaf = absl::StrCat(cordon_dir, "/", leaf_name);
  if (absl::Status s = cgroupfs::MakeDir(leaf, /*exist_ok=*/false, options); !s.ok()) return s;
  std::unique_ptr<CgroupV2Backend> cg(new CgroupV2Backend(options, limits));
  cg->dir_ = leaf;
  cg->controllers_ = absl::StrJoin(wanted, ",");
  if (absl::Status s = cg->WriteLimits(); !s.ok()) return s;
  cg->dir_fd_ = open(leaf.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cg->dir_fd_ < 0) {
    return absl::InternalError(
        absl::StrCat("open ", leaf, " for CLONE_INTO_CGROUP: ", strerror(errno)));
  }
  return cg;
}

std::unique_ptr<CgroupV2Backend> CgroupV2Backend::Adopt(const CgroupOptions& options,
                                                        std::string dir) {
  std::unique_ptr<CgroupV2Backend> cg(new CgroupV2Backend(options, QuotaLimits{}));
  cg->dir_ = std::move(dir);
  return cg;
}

CgroupV2Backend::~CgroupV2Backend() {
  (void)Remove();
  if (dir_fd_ >= 0) close(dir_fd_);
}

absl::Status CgroupV2Backend::WriteLimits() {
  auto write = [this](const char* file, const std::string& value) {
    return cgroupfs::WriteFile(absl::StrCat(dir_, "/", file), value);
  };
  if (limits_.memory_bytes > 0) {
    if (absl::Status s = write("memory.max", absl::StrCat(limits_.memory_bytes)); !s.ok()) return s;
    // Swap would let a plugin exceed memory.max; the file is absent without swap accounting.
    if (cgroupfs::Exists(dir_ + "/memory.swap.max")) {
      if (absl::Status s = write("memory.swap.max", "0"); !s.ok()) return s;
    }
  }
  // On OOM, kill the whole plugin rather than one process of it: a half-killed plugin is in a
  // state nobody designed for.
  if (cgroupfs::Exists(dir_ + "/memory.oom.group")) {
    if (absl::Status s = write("memory.oom.group", "1"); !s.ok()) return s;
  }
  if (limits_.pids > 0) {
    if (absl::Status s = write("pids.max", absl::StrCat(limits_.pids)); !s.ok()) return s;
  }
  if (limits_.cpu_rate_percent > 0) {
    const uint64_t quota = kCpuPeriodUs * limits_.cpu_rate_percent / 100;
    if (absl::Status s = write("cpu.max", absl::StrCat(quota, " ", kCpuPeriodUs)); !s.ok())
      return s;
  }
  return absl::OkStatus();
}

absl::Status CgroupV2Backend::AddProcess(pid_t pid) {
  if (removed_) return absl::FailedPreconditionError("AddProcess on a removed cgroup");
  if (absl::Status s = cgroupfs::WriteFile(dir_ + "/cgroup.procs", absl::StrCat(pid)); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("adding pid ", pid, " to ", Describe(), ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status CgroupV2Backend::WaitUntil(absl::string_view key, uint64_t value) {
  const std::string path = dir_ + "/cgroup.events";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("open ", path, ": no such file"));
    return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  }
  const absl::Time deadline = absl::Now() + absl::Milliseconds(options_.kill_timeout_ms);
  absl::Status result;
  while (true) {
    // Re-reading through the same fd re-arms kernfs notification, so poll() below wakes on the
    // next change of cgroup.events instead of spinning.
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0) {
      result = absl::InternalError(absl::StrCat("read ", path, ": ", strerror(errno)));
      break;
    }
    auto kv = cgroupfs::ParseFlatKeyed(absl::string_view(buf, static_cast<size_t>(n)));
    if (!kv.ok()) {
      result = absl::InvalidArgumentError(absl::StrCat(path, ": ", kv.status().message()));
      break;
    }
    auto it = kv->find(key);
    if (it != kv->end() && it->second == value) break;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      result =
          absl::DeadlineExceededError(absl::StrCat(path, ": '", key, "' did not become ", value,
                                                   " within ", options_.kill_timeout_ms, " ms"));
      break;
    }
    pollfd p{fd, POLLPRI, 0};
    poll(&p, 1, static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 50)));
  }
  close(fd);
  return result;
}

absl::Status CgroupV2Backend::FreezeKillThaw() {
  // Kernels before 5.14 have no cgroup.kill; a frozen cgroup cannot fork, so killing every
  // listed pid while frozen gets the whole tree.
  if (absl::Status s = cgroupfs::WriteFile(dir_ + "/cgroup.freeze", "1"); !s.ok()) return s;
  absl::Status frozen = WaitUntil("frozen", 1);
  absl::StatusOr<std::vector<pid_t>> pids = cgroupfs::ReadPids(dir_ + "/cgroup.procs");
  if (pids.ok()) {
    for (pid_t pid : *pids) kill(pid, SIGKILL);
  }
  absl::Status thaw = cgroupfs::WriteFile(dir_ + "/cgroup.freeze", "0");
  if (!frozen.ok()) return frozen;
  if (!pids.ok()) return pids.status();
  return thaw;
}

absl::Status CgroupV2Backend::KillAll() {
  if (cgroupfs::Exists(dir_ + "/cgroup.kill")) {
    if (absl::Status s = cgroupfs::WriteFile(dir_ + "/cgroup.kill", "1"); !s.ok()) return s;
  } else if (absl::Status s = FreezeKillThaw(); !s.ok()) {
    return s;
  }
  return WaitUntil("populated", 0);
}

absl::StatusOr<bool> CgroupV2Backend::IsEmpty() const {
  absl::StatusOr<uint64_t> populated = cgroupfs::ReadKey(dir_ + "/cgroup.events", "populated");
  if (!populated.ok()) return populated.status();
  return *populated == 0;
}

absl::StatusOr<QuotaUsage> CgroupV2Backend::ReadUsage() const {
  QuotaUsage u;
  absl::Status s;
  auto read = [&](const char* file, absl::string_view key, uint64_t scale, uint64_t* out) {
    if (s.ok()) s = ReadOptional(absl::StrCat(dir_, "/", file), key, scale, out);
  };
  read("memory.events", "oom_kill", 1, &u.oom_kills);
  read("memory.events", "max", 1, &u.memory_max_hits);
  read("memory.peak", "", 1, &u.memory_peak_bytes);
  read("memory.current", "", 1, &u.memory_current_bytes);
  read("pids.events", "max", 1, &u.pids_max_hits);
  read("pids.current", "", 1, &u.pids_current);
  read("cpu.stat", "usage_usec", 1000, &u.cpu_usage_ns);
  read("cpu.stat", "nr_throttled", 1, &u.cpu_throttled_periods);
  read("cpu.stat", "throttled_usec", 1000, &u.cpu_throttled_ns);
  if (!s.ok()) return s;
  return u;
}

absl::Status CgroupV2Backend::Remove() {
  if (removed_) return absl::OkStatus();
  absl::StatusOr<bool> empty = IsEmpty();
  if (!empty.ok() && !absl::IsNotFound(empty.status())) return empty.status();
  if (empty.ok() && !*empty) {
    if (absl::Status s = KillAll(); !s.ok()) return s;
  }
  if (dir_fd_ >= 0) {
    close(dir_fd_);
    dir_fd_ = -1;
  }
  if (absl::Status s = cgroupfs::RemoveTree(dir_, options_); !s.ok()) return s;
  removed_ = true;
  return absl::OkStatus();
}

std::string CgroupV2Backend::Describe() const {
  return absl::StrCat("cgroup v2 (", controllers_, ") ", dir_);
}

absl::Status CgroupV2Backend::WatchEvents(CgroupEventWatch& watch) {
  // memory.events covers oom_kill and max; pids.events covers pids.max refusals.
  for (const char* file : {"memory.events", "pids.events"}) {
    absl::Status s = watch.WatchFileModify(absl::StrCat(dir_, "/", file));
    if (!s.ok() && !absl::IsNotFound(s)) return s;
  }
  return absl::OkStatus();
}

}  // namespace cordon::quota
