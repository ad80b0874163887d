#include "launcher/host/sandbox_spec_builder.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sandbox-profiles/seccomp_compiler.h"
#include "sandbox-profiles/compiled_cache.h"

namespace cordon::host {
namespace {

// Syscalls the launcher's own hand-off needs between loading the filter and exec: the
// listener report (write), waiting for the launcher (read), exec itself and the failure exit.
constexpr const char* kHandOffSyscalls[] = {"read", "write", "execveat", "exit_group"};

sandbox::MountSpec::Kind KindOf(cordon::v1::Mount::Type type) {
  switch (type) {
    case cordon::v1::Mount::BIND_RW:
      return sandbox::MountSpec::Kind::kBindReadWrite;
    case cordon::v1::Mount::TMPFS:
      return sandbox::MountSpec::Kind::kTmpfs;
    default:
      return sandbox::MountSpec::Kind::kBindReadOnly;
  }
}

void AddLimit(sandbox::SandboxSpec* spec, int resource, uint64_t soft, uint64_t hard) {
  spec->rlimits.push_back({resource, soft, hard});
}

}  // namespace

absl::StatusOr<std::string> SandboxSpecBuilder::ResolveProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = getenv("PATH");
  std::string search = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  for (absl::string_view dir : absl::StrSplit(search, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("program '", program, "' not found in $PATH (", search,
                                          "); give its full path"));
}

absl::StatusOr<SandboxPlan> SandboxSpecBuilder::Build(const cordon::v1::Profile& profile,
                                                      const LaunchOverrides& overrides) {
  SandboxPlan plan;
  sandbox::SandboxSpec& spec = plan.spec;
  absl::StatusOr<std::string> program = ResolveProgram(overrides.command[0]);
  if (!program.ok()) return program.status();
  spec.program = *program;
  spec.argv = overrides.command;
  spec.workdir = profile.workdir().empty() ? "/" : profile.workdir();
  spec.hostname = profile.hostname().empty() ? "cordon" : profile.hostname();

  // Environment: profile first, flags override by key.
  std::map<std::string, std::string> env;
  std::vector<std::string> order;
  for (const std::string& entry : profile.env()) {
    std::string key = entry.substr(0, entry.find('='));
    if (!env.count(key)) order.push_back(key);
    env[key] = entry;
  }
  for (const std::string& entry : overrides.env) {
    std::string key = entry.substr(0, entry.find('='));
    if (!env.count(key)) order.push_back(key);
    env[key] = entry;
  }
#if defined(__SANITIZE_ADDRESS__)
  // Sanitizer builds only (CI's ASan stage, whose plugins are ASan builds too): LeakSanitizer
  // stops the world with ptrace at exit, which the filter refuses, and would fail every exit.
  if (!env.count("ASAN_OPTIONS")) {
    order.push_back("ASAN_OPTIONS");
    env["ASAN_OPTIONS"] = "ASAN_OPTIONS=detect_leaks=0";
  }
#endif
  for (const std::string& key : order) spec.env.push_back(env[key]);

  bool tmp_size_applied = false;
  for (const cordon::v1::Mount& mount : profile.mounts()) {
    sandbox::MountSpec m;
    m.kind = KindOf(mount.type());
    m.source = mount.source();
    m.destination = mount.destination().empty() ? mount.source() : mount.destination();
    m.optional = mount.optional();
    m.size_bytes = mount.size_bytes();
    if (m.kind == sandbox::MountSpec::Kind::kTmpfs && m.destination == "/tmp" &&
        overrides.quotas.tmp_size_bytes.has_value()) {
      m.size_bytes = *overrides.quotas.tmp_size_bytes;
      tmp_size_applied = true;
    }
    spec.mounts.push_back(m);
  }
  // The size is an option of the profile's /tmp tmpfs; without one it would cap nothing.
  if (overrides.quotas.tmp_size_bytes.has_value() && !tmp_size_applied) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tmp-size: profile '", profile.name(),
        "' mounts no tmpfs at /tmp, so there is no /tmp size to set; add "
        "`mounts { type: TMPFS destination: \"/tmp\" size_bytes: N }` to the profile or drop "
        "--tmp-size"));
  }
  for (const BindMount& bind : overrides.binds) {
    sandbox::MountSpec m;
    m.kind = bind.writable ? sandbox::MountSpec::Kind::kBindReadWrite
                           : sandbox::MountSpec::Kind::kBindReadOnly;
    m.source = bind.source;
    m.destination = bind.destination;
    if (access(bind.source.c_str(), F_OK) != 0) {
      return absl::NotFoundError(absl::StrCat(bind.writable ? "--bind" : "--ro-bind", " source '",
                                              bind.source, "' does not exist"));
    }
    spec.mounts.push_back(m);
  }

  spec.pass_fds = overrides.pass_fds;
  plan.cgroup_parent = overrides.cgroup_parent;

  const cordon::v1::UserMapping& user = profile.user();
  spec.host_uid = user.host_uid() != 0 ? user.host_uid() : 65534;
  spec.host_gid = user.host_gid() != 0 ? user.host_gid() : 65534;
  spec.sandbox_uid = user.sandbox_uid() != 0 ? user.sandbox_uid() : 1000;
  spec.sandbox_gid = user.sandbox_gid() != 0 ? user.sandbox_gid() : 1000;

  const cordon::v1::Limits& limits = profile.limits();
  const QuotaOverrides& q = overrides.quotas;
  plan.cgroup_limits.memory_bytes = q.memory_bytes.value_or(limits.memory_bytes());
  plan.cgroup_limits.pids = q.pids.value_or(limits.pids());
  plan.cgroup_limits.cpu_rate_percent = q.cpu_rate_percent.value_or(limits.cpu_rate_percent());
  if (plan.cgroup_limits.pids == 1) {
    return absl::InvalidArgumentError(
        "pids quota 1 is too small: the sandbox's init and the program are two processes; give "
        "--pids 2 or more (or set limits.pids >= 2 in the profile)");
  }
  plan.needs_cgroup = plan.cgroup_limits.memory_bytes > 0 || plan.cgroup_limits.pids > 0 ||
                      plan.cgroup_limits.cpu_rate_percent > 0;
  plan.wall_time_ms = q.wall_time_ms.value_or(limits.wall_time_ms());
  plan.cpu_time_seconds = q.cpu_time_seconds.value_or(limits.cpu_time_seconds());
  plan.file_size_bytes = q.file_size_bytes.value_or(limits.file_size_bytes());
  if (plan.cpu_time_seconds > 0) {
    // SIGXCPU at the soft limit (recordable), SIGKILL one second later if ignored.
    AddLimit(&spec, RLIMIT_CPU, plan.cpu_time_seconds, plan.cpu_time_seconds + 1);
  }
  if (plan.file_size_bytes > 0) {
    AddLimit(&spec, RLIMIT_FSIZE, plan.file_size_bytes, plan.file_size_bytes);
  }
  uint64_t open_files = q.open_files.value_or(limits.open_files());
  if (open_files > 0) AddLimit(&spec, RLIMIT_NOFILE, open_files, open_files);
  AddLimit(&spec, RLIMIT_CORE, limits.core_size_bytes(), limits.core_size_bytes());
  if (limits.stack_bytes() > 0) {
    AddLimit(&spec, RLIMIT_STACK, limits.stack_bytes(), limits.stack_bytes());
  }

  cordon::v1::SeccompPolicy policy = profile.seccomp();
  for (const char* name : kHandOffSyscalls) policy.add_allow(name);
  plan.kill_on_violation = policy.on_violation() == cordon::v1::SeccompPolicy::KILL;
  profiles::SeccompCompileOptions options;
  options.user_notify = true;
  options.cache = profiles::CompiledCache::Default(&plan.seccomp_cache_warning);
  absl::StatusOr<profiles::SeccompProgram> compiled =
      profiles::SeccompCompiler::Compile(policy, options);
  if (!compiled.ok()) {
    return absl::Status(compiled.status().code(),
                        absl::StrCat("profile '", profile.name(),
                                     "': seccomp policy: ", compiled.status().message()));
  }
  plan.seccomp_from_cache = compiled->from_cache;
  spec.seccomp_program = std::move(compiled->instructions);
  spec.seccomp_user_notify = true;
  return plan;
}

void SandboxSpecBuilder::AddRlimitFallback(const SandboxPlan& plan, sandbox::SandboxSpec* spec) {
  if (plan.cgroup_limits.memory_bytes > 0) {
    AddLimit(spec, RLIMIT_AS, plan.cgroup_limits.memory_bytes, plan.cgroup_limits.memory_bytes);
  }
  if (plan.cgroup_limits.pids > 0) {
    AddLimit(spec, RLIMIT_NPROC, plan.cgroup_limits.pids, plan.cgroup_limits.pids);
  }
}

}  // namespace cordon::host
