#include "launcher/quota/cgroup_v1_backend.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cordon::quota {
namespace {

constexpr const char* kControllers[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};
constexpr uint64_t kCfsPeriodUs = 100000;

bool Carries(const std::vector<std::string>& controllers, absl::string_view c) {
  return std::find(controllers.begin(), controllers.end(), c) != controllers.end();
}

// Optional counters: a missing file or key (older kernel, controller absent) reads as 0.
absl::Status ReadOptional(const std::string& path, absl::string_view key, uint64_t* out) {
  absl::StatusOr<uint64_t> v =
      key.empty() ? cgroupfs::ReadUint(path) : cgroupfs::ReadKey(path, key);
  if (v.ok()) {
    *out = *v;
    return absl::OkStatus();
  }
  if (absl::IsNotFound(v.status())) return absl::OkStatus();
  return v.status();
}

void PauseBriefly(int round) {
  // Polling kernel state that has no event to wait on; back off from 1 ms to 10 ms.
  timespec ts{0, std::min(round + 1, 10) * 1000000L};
  nanosleep(&ts, nullptr);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CgroupV1Backend>> CgroupV1Backend::Create(
    const CgroupOptions& options, const std::vector<cgroupfs::Hierarchy>& hierarchies,
    absl::string_view leaf_name, const QuotaLimits& limits) {
  std::vector<std::string> missing;
  std::vector<const cgroupfs::Hierarchy*> used;
  for (const char* c : kControllers) {
    const cgroupfs::Hierarchy* found = nullptr;
    for (const cgroupfs::Hierarchy& h : hierarchies) {
      if (h.version == 1 && h.Has(c)) found = &h;
    }
    const bool required = absl::string_view(c) == "memory" || absl::string_view(c) == "pids" ||
                          (absl::string_view(c) == "cpu" && limits.cpu_rate_percent > 0);
    if (found == nullptr) {
      if (required) missing.push_back(c);
      continue;
    }
    if (std::find(used.begin(), used.end(), found) == used.end()) used.push_back(found);
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cgroup v1: no mounted hierarchy with controller(s) ",
                     absl::StrJoin(missing, ","), " that we are a member of"));
  }
  std::unique_ptr<CgroupV1Backend> cg(new CgroupV1Backend(options, limits));
  for (const cgroupfs::Hierarchy* h : used) {
    const std::string parent = h->ParentPath(options);
    std::optional<std::string> parent_dir = h->DirFor(parent);
    if (!parent_dir.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cgroup v1 ", absl::StrJoin(h->controllers, ","), ": parent cgroup ", parent,
          " is not visible below mount ", h->mount_point, " (root ", h->mount_root, ")"));
    }
    const std::string cordon_dir = absl::StrCat(*parent_dir, "/", cgroupfs::kCordonDir);
    if (absl::Status s = cgroupfs::MakeDir(cordon_dir, /*exist_ok=*/true, options); !s.ok())
      return s;
    const std::string leaf = absl::StrCat(cordon_dir, "/", leaf_name);
    if (absl::Status s = cgroupfs::MakeDir(leaf, /*exist_ok=*/false, options); !s.ok()) return s;
    // Registered before the limits are written so that a failure below removes it (RAII).
    cg->dirs_.push_back(Dir{leaf, h->controllers});
  }
  if (absl::Status s = cg->WriteLimits(); !s.ok()) return s;
  return cg;
}

std::unique_ptr<CgroupV1Backend> CgroupV1Backend::Adopt(const CgroupOptions& options,
                                                        std::vector<Dir> dirs) {
  std::unique_ptr<CgroupV1Backend> cg(new CgroupV1Backend(options, QuotaLimits{}));
  cg->dirs_ = std::move(dirs);
  return cg;
}

CgroupV1Backend::~CgroupV1Backend() {
  (void)Remove();
  CloseTaskFds();
}

absl::StatusOr<std::vector<int>> CgroupV1Backend::TaskFdsForSelfJoin() {
  if (removed_) return absl::FailedPreconditionError("TaskFdsForSelfJoin on a removed cgroup");
  if (task_fds_.empty()) {
    for (const Dir& d : dirs_) {
      const std::string tasks = d.path + "/tasks";
      int fd = open(tasks.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) {
        absl::Status s = absl::ErrnoToStatus(errno, absl::StrCat("open ", tasks));
        CloseTaskFds();
        return s;
      }
      task_fds_.push_back(fd);
    }
  }
  return task_fds_;
}

void CgroupV1Backend::CloseTaskFds() {
  for (int fd : task_fds_) close(fd);
  task_fds_.clear();
}

std::string CgroupV1Backend::DirOf(absl::string_view controller) const {
  for (const Dir& d : dirs_) {
    if (Carries(d.controllers, controller)) return d.path;
  }
  return "";
}

absl::Status CgroupV1Backend::WriteLimits() {
  const std::string mem = DirOf("memory");
  if (limits_.memory_bytes > 0) {
    // memory first, then memory+swap: the kernel insists memsw >= memory at every step, and
    // both start unlimited.
    if (absl::Status s =
            cgroupfs::WriteFile(mem + "/memory.limit_in_bytes", absl::StrCat(limits_.memory_bytes));
        !s.ok()) {
      return s;
    }
    // Without this, a plugin could page out to swap and use far more than its limit.
    if (cgroupfs::Exists(mem + "/memory.memsw.limit_in_bytes")) {
      if (absl::Status s = cgroupfs::WriteFile(mem + "/memory.memsw.limit_in_bytes",
                                               absl::StrCat(limits_.memory_bytes));
          !s.ok()) {
        return s;
      }
    }
  }
  // The OOM killer must stay enabled: with it disabled, a plugin at its limit would hang
  // instead of dying, and we would never see an oom_kill event.
  absl::StatusOr<uint64_t> disabled =
      cgroupfs::ReadKey(mem + "/memory.oom_control", "oom_kill_disable");
  if (disabled.ok() && *disabled != 0) {
    if (absl::Status s = cgroupfs::WriteFile(mem + "/memory.oom_control", "0"); !s.ok()) return s;
  }
  if (limits_.pids > 0) {
    if (absl::Status s =
            cgroupfs::WriteFile(DirOf("pids") + "/pids.max", absl::StrCat(limits_.pids));
        !s.ok()) {
      return s;
    }
  }
  if (limits_.cpu_rate_percent > 0) {
    const std::string cpu = DirOf("cpu");
    if (absl::Status s =
            cgroupfs::WriteFile(cpu + "/cpu.cfs_period_us", absl::StrCat(kCfsPeriodUs));
        !s.ok()) {
      return s;
    }
    const uint64_t quota = kCfsPeriodUs * limits_.cpu_rate_percent / 100;
    if (absl::Status s = cgroupfs::WriteFile(cpu + "/cpu.cfs_quota_us", absl::StrCat(quota));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CgroupV1Backend::AddProcess(pid_t pid) {
  if (removed_) return absl::FailedPreconditionError("AddProcess on a removed cgroup");
  for (const Dir& d : dirs_) {
    if (absl::Status s = cgroupfs::WriteFile(d.path + "/cgroup.procs", absl::StrCat(pid));
        !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("adding pid ", pid, " to ", Describe(), ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<pid_t>> CgroupV1Backend::ListPids() const {
  std::set<pid_t> all;
  for (const Dir& d : dirs_) {
    // "tasks" (every thread) rather than cgroup.procs: a process whose leader thread exited
    // drops out of cgroup.procs while its other threads still run.
    absl::StatusOr<std::vector<pid_t>> pids = cgroupfs::ReadPids(d.path + "/tasks");
    if (!pids.ok()) {
      if (absl::IsNotFound(pids.status())) continue;  // already removed in this hierarchy
      return pids.status();
    }
    all.insert(pids->begin(), pids->end());
  }
  return std::vector<pid_t>(all.begin(), all.end());
}

absl::StatusOr<bool> CgroupV1Backend::IsEmpty() const {
  absl::StatusOr<std::vector<pid_t>> pids = ListPids();
  if (!pids.ok()) return pids.status();
  return pids->empty();
}

absl::Status CgroupV1Backend::SetFrozen(bool frozen) {
  const std::string freezer = DirOf("freezer");
  if (freezer.empty()) return absl::OkStatus();
  const std::string state = freezer + "/freezer.state";
  if (absl::Status s = cgroupfs::WriteFile(state, frozen ? "FROZEN" : "THAWED"); !s.ok()) return s;
  if (!frozen) return absl::OkStatus();
  // FREEZING means some task has not stopped yet; until FROZEN a task could still fork.
  const absl::Time deadline = absl::Now() + absl::Milliseconds(options_.kill_timeout_ms);
  for (int round = 0;; ++round) {
    absl::StatusOr<std::string> now = cgroupfs::ReadFile(state, 64);
    if (!now.ok()) return now.status();
    if (absl::StripAsciiWhitespace(*now) == "FROZEN") return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(state, " stuck at ", *now));
    }
    PauseBriefly(round);
  }
}

absl::Status CgroupV1Backend::KillAll() {
  const absl::Time deadline = absl::Now() + absl::Milliseconds(options_.kill_timeout_ms);
  for (int round = 0;; ++round) {
    absl::StatusOr<std::vector<pid_t>> pids = ListPids();
    if (!pids.ok()) return pids.status();
    if (pids->empty()) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("KillAll: ", pids->size(),
                                                      " process(es) still in ", Describe(),
                                                      " after ", options_.kill_timeout_ms, " ms"));
    }
    // Frozen tasks cannot fork, so the snapshot taken while frozen is the whole tree. Without a
    // freezer hierarchy we still converge: pids.max bounds how fast the tree can regrow.
    absl::Status frozen = SetFrozen(true);
    if (frozen.ok()) {
      pids = ListPids();
      if (!pids.ok()) {
        (void)SetFrozen(false);
        return pids.status();
      }
    }
    for (pid_t pid : *pids) kill(pid, SIGKILL);
    // SIGKILL is only acted on once the task runs again.
    if (absl::Status s = SetFrozen(false); !s.ok()) return s;
    PauseBriefly(round);
  }
}

absl::StatusOr<QuotaUsage> CgroupV1Backend::ReadUsage() const {
  QuotaUsage u;
  const std::string mem = DirOf("memory");
  const std::string pids = DirOf("pids");
  const std::string cpu = DirOf("cpu");
  const std::string cpuacct = DirOf("cpuacct");
  absl::Status s;
  auto read = [&s](const std::string& dir, const char* file, absl::string_view key, uint64_t* out) {
    if (s.ok() && !dir.empty()) s = ReadOptional(absl::StrCat(dir, "/", file), key, out);
  };
  read(mem, "memory.oom_control", "oom_kill", &u.oom_kills);
  read(mem, "memory.failcnt", "", &u.memory_max_hits);
  // With swap accounting the memory+swap counter is charged first and takes the failures when
  // both limits are equal, so count whichever saw more.
  uint64_t memsw_failcnt = 0;
  read(mem, "memory.memsw.failcnt", "", &memsw_failcnt);
  u.memory_max_hits = std::max(u.memory_max_hits, memsw_failcnt);
  read(mem, "memory.max_usage_in_bytes", "", &u.memory_peak_bytes);
  read(mem, "memory.usage_in_bytes", "", &u.memory_current_bytes);
  read(pids, "pids.events", "max", &u.pids_max_hits);
  read(pids, "pids.current", "", &u.pids_current);
  read(cpuacct, "cpuacct.usage", "", &u.cpu_usage_ns);
  read(cpu, "cpu.stat", "nr_throttled", &u.cpu_throttled_periods);
  read(cpu, "cpu.stat", "throttled_time", &u.cpu_throttled_ns);
  if (!s.ok()) return s;
  return u;
}

absl::Status CgroupV1Backend::Remove() {
  if (removed_) return absl::OkStatus();
  absl::StatusOr<bool> empty = IsEmpty();
  if (!empty.ok()) return empty.status();
  if (!*empty) {
    if (absl::Status s = KillAll(); !s.ok()) return s;
  }
  absl::Status result;
  for (const Dir& d : dirs_) {
    if (absl::Status s = cgroupfs::RemoveTree(d.path, options_); !s.ok() && result.ok()) result = s;
  }
  if (result.ok()) removed_ = true;
  return result;
}

std::string CgroupV1Backend::Describe() const {
  std::vector<std::string> controllers;
  for (const char* c : kControllers) {
    if (!DirOf(c).empty()) controllers.push_back(c);
  }
  std::string where = DirOf("memory");
  if (where.empty() && !dirs_.empty()) where = dirs_[0].path;
  return absl::StrCat("cgroup v1 (", absl::StrJoin(controllers, ","), ") ", where);
}

absl::Status CgroupV1Backend::WatchEvents(CgroupEventWatch& watch) {
  if (const std::string mem = DirOf("memory"); !mem.empty()) {
    if (absl::Status s = watch.WatchV1MemoryOom(mem); !s.ok()) return s;
  }
  // Current kernels count v1 pids.events without notifying it; watching costs nothing and
  // helps where they do. Callers still read counters on exit and periodically (docs/quotas.md).
  if (const std::string pids = DirOf("pids"); !pids.empty()) {
    if (absl::Status s = watch.WatchFileModify(pids + "/pids.events"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace cordon::quota
