#include "launcher/cli/run_command.h"

#include <signal.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "audit/audit_log.h"
#include "launcher/cli/audit_failure_killer.h"
#include "launcher/cli/run_flags.h"
#include "launcher/host/plugin_quotas.h"
#include "launcher/host/sandbox_spec_builder.h"
#include "launcher/sandbox/sandbox_spawner.h"
#include "launcher/supervisor/plugin_auditor.h"
#include "launcher/supervisor/sandbox_supervisor.h"
#include "sandbox-profiles/compiled_cache.h"
#include "sandbox-profiles/profile_loader.h"

namespace cordon::cli {
namespace {

int SetupFailure(const absl::Status& status) {
  std::cerr << "cordon run: " << status.message() << "\n";
  return kExitSetupFailure;
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

int RunCommand::Main(const std::vector<std::string>& args) {
  absl::StatusOr<RunFlags> flags = RunFlags::Parse(args);
  if (!flags.ok()) return SetupFailure(flags.status());
  if (flags->help) {
    std::cout << RunFlags::Usage();
    return 0;
  }
  // Blocked before any thread (the audit log's flusher) or child exists, so the supervisor's
  // signalfd sees them all and none kills cordon before it has recorded the exit.
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&forwarded, sig);
  sigprocmask(SIG_BLOCK, &forwarded, nullptr);

  absl::StatusOr<cordon::v1::Profile> profile =
      profiles::ProfileLoader::LoadCached(flags->profile, profiles::CompiledCache::Default());
  if (!profile.ok()) return SetupFailure(profile.status());
  absl::StatusOr<host::SandboxPlan> plan =
      host::SandboxSpecBuilder::Build(*profile, flags->ToOverrides());
  if (!plan.ok()) return SetupFailure(plan.status());
  if (!plan->seccomp_cache_warning.empty()) {
    std::cerr << "cordon run: note: " << plan->seccomp_cache_warning
              << " (this start compiled its seccomp program without the cache)\n";
  }

  // Declared before the log, whose flusher thread may call it until the log is gone.
  AuditFailureKiller audit_failure;
  std::unique_ptr<audit::AuditLog> log;
  if (flags->audit.enabled()) {
    audit::AuditLogOptions options = flags->audit.options();
    options.on_failure_callback = audit_failure.Callback();
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> opened = audit::AuditLog::Open(options);
    if (!opened.ok()) {
      return SetupFailure(opened.status());
    }
    log = std::move(*opened);
  }
  const bool rootless = geteuid() != 0;
  supervisor::PluginIdentity identity{
      absl::StrCat("run-", getpid(), "-", absl::ToUnixMillis(absl::Now())),
      Basename(plan->spec.program), ""};
  supervisor::PluginAuditor auditor(log.get(), identity);

  // Quotas: a cgroup when we can have one, rlimits otherwise (and said so).
  std::string fallback_note;
  std::unique_ptr<host::PluginQuotas> quotas =
      host::PluginQuotas::Attach(&*plan, identity.name, &fallback_note);
  if (!fallback_note.empty() && !rootless) std::cerr << "cordon run: " << fallback_note << "\n";
  // Rootless too: a quota the user asked for and does not get is never dropped silently.
  for (const std::string& warning : quotas->warnings()) {
    std::cerr << "cordon run: warning: " << warning << "\n";
  }

  // stdio: pipes the supervisor relays. The program then never holds the caller's terminal
  // (no TIOCSCTTY, nothing to inject into) nor the file behind our stdout (which it could
  // truncate or rewrite from the start).
  int stdin_pipe[2], stdout_pipe[2], stderr_pipe[2];
  if (pipe2(stdin_pipe, O_CLOEXEC) != 0 || pipe2(stdout_pipe, O_CLOEXEC) != 0 ||
      pipe2(stderr_pipe, O_CLOEXEC) != 0) {
    return SetupFailure(absl::ErrnoToStatus(errno, "pipe2 (stdio relay)"));
  }
  plan->spec.stdio[0] = stdin_pipe[0];
  plan->spec.stdio[1] = stdout_pipe[1];
  plan->spec.stdio[2] = stderr_pipe[1];
  // A caller that closed its end of our stdout must not kill us before plugin.exit.
  signal(SIGPIPE, SIG_IGN);

  bool start_recorded = false;
  sandbox::SpawnHooks hooks;
  hooks.before_start = [&](pid_t pid) -> absl::Status {
    if (absl::Status s = quotas->PlaceInCgroup(pid); !s.ok()) return s;
    // Written before the program starts: the record precedes what it records.
    supervisor::PluginStartInfo start;
    start.profile = profile->name();
    start.program = plan->spec.program;
    start.argv = plan->spec.argv;
    start.host_pid = pid;
    start.sandbox_uid = plan->spec.sandbox_uid;
    start.host_uid = rootless ? geteuid() : plan->spec.host_uid;
    start.quota_backend = quotas->backend();
    start.rootless = rootless;
    start.seccomp_cached = plan->seccomp_from_cache;
    if (!plan->seccomp_cache_warning.empty()) {
      start.seccomp_notes.push_back(plan->seccomp_cache_warning);
    }
    start.unenforced_quotas = quotas->unenforced();
    start.quota_notes = quotas->warnings();
    if (!fallback_note.empty()) start.quota_notes.push_back(fallback_note);
    absl::Status recorded = auditor.RecordStart(start);
    start_recorded = recorded.ok();
    return recorded;
  };
  absl::StatusOr<std::unique_ptr<sandbox::SandboxProcess>> process =
      sandbox::SandboxSpawner::Spawn(plan->spec, hooks);
  // The sandbox has its copies; ours would keep the program from ever seeing EOF.
  close(stdin_pipe[0]);
  close(stdout_pipe[1]);
  close(stderr_pipe[1]);
  if (!process.ok()) {
    close(stdin_pipe[1]);
    close(stdout_pipe[0]);
    close(stderr_pipe[0]);
    if (start_recorded) {
      // plugin.start is already in the log; close it so no start is left without an end.
      (void)auditor.RecordSetupFailure(std::string(process.status().message()));
    }
    return SetupFailure(process.status());
  }
  audit_failure.Arm((*process)->pidfd());
  absl::Cleanup disarm = [&audit_failure] { audit_failure.Disarm(); };

  // The program runs already; a failure here only costs the tmp_size record, and says so.
  if (absl::Status s = quotas->WatchTmp((*process)->tmp_dir_fd()); !s.ok()) {
    std::cerr << "cordon run: warning: " << s.message() << "\n";
  }

  supervisor::SupervisorOptions supervisor_options;
  if (plan->wall_time_ms > 0) {
    supervisor_options.wall_time_limit = absl::Milliseconds(plan->wall_time_ms);
  }
  supervisor_options.kill_on_violation = plan->kill_on_violation;
  supervisor_options.stdin_pipe = stdin_pipe[1];
  supervisor_options.stdout_pipe = stdout_pipe[0];
  supervisor_options.stderr_pipe = stderr_pipe[0];
  supervisor_options.quota_event_fd = quotas->event_fd();
  if (quotas->polls()) {
    supervisor_options.on_quota_poll = [&quotas, &auditor]() -> absl::Status {
      for (const quota::QuotaViolation& v : quotas->PollEvents()) {
        if (absl::Status s = host::PluginQuotas::Record(v, &auditor); !s.ok()) return s;
      }
      return absl::OkStatus();
    };
  }
  supervisor::SandboxSupervisor supervisor(process->get(), &auditor, supervisor_options);
  absl::StatusOr<supervisor::SupervisionResult> result = supervisor.Run();
  if (!result.ok()) {
    (void)(*process)->Kill();
    return SetupFailure(result.status());
  }

  if (audit_failure.killed() && result->kill_reason == supervisor::KillReason::kNone) {
    result->kill_reason = supervisor::KillReason::kAuditFailure;
    result->kill_detail = audit_failure.detail();
  }
  // What the quotas saw, recorded before the exit record. A kill the launcher decided itself
  // (seccomp, wall time, audit failure) is that kill, never a guessed quota kill.
  const bool launcher_killed = result->kill_reason != supervisor::KillReason::kNone;
  uint64_t peak_memory = 0;
  std::vector<quota::QuotaViolation> violations =
      quotas->Collect(result->exit, &peak_memory, launcher_killed);
  result->exit.cpu_time = std::max(result->exit.cpu_time, quotas->measured_cpu_time());
  std::string quota_killed;
  for (const quota::QuotaViolation& v : violations) {
    if (absl::Status s = v.recorded ? absl::OkStatus() : host::PluginQuotas::Record(v, &auditor);
        !s.ok()) {
      std::cerr << "cordon run: audit log write failed: " << s.message() << "\n";
    }
    if (v.action == "killed" && quota_killed.empty()) {
      quota_killed = absl::StrCat(v.quota, " (limit ", v.limit, ")");
    }
  }
  std::string reason;
  int status = result->exit.ShellStatus();
  switch (result->kill_reason) {
    case supervisor::KillReason::kWallTime:
      quota_killed = absl::StrCat("wall_time (", result->kill_detail, ")");
      break;
    case supervisor::KillReason::kSeccompViolation:
    case supervisor::KillReason::kForeignArchitecture:
      reason = result->KillReasonText();
      std::cerr << "cordon run: killed the program for a seccomp violation: "
                << result->kill_detail << "\n";
      status = 128 + SIGSYS;
      break;
    case supervisor::KillReason::kAuditFailure:
      reason = result->KillReasonText();
      std::cerr << "cordon run: killed the program because the audit log failed: "
                << result->kill_detail << "\n";
      status = kExitSetupFailure;
      break;
    case supervisor::KillReason::kSupervisorError:
      reason = result->kill_detail;
      std::cerr << "cordon run: ended the sandbox: " << result->kill_detail << "\n";
      status = kExitSetupFailure;
      break;
    case supervisor::KillReason::kNone:
      break;
  }
  // A memory or pids hit is only a kill when the program actually died of it, and not when
  // the launcher killed it for another reason (its status and line stand, alone).
  if (!quota_killed.empty() && (result->kill_reason == supervisor::KillReason::kWallTime ||
                                (!launcher_killed && result->exit.signal() != 0))) {
    reason = absl::StrCat("quota exceeded: ", quota_killed);
    std::cerr << "cordon run: killed the program: quota exceeded: " << quota_killed << "\n";
    status = kExitQuotaKill;
  }
  if (absl::Status s = auditor.RecordExit(result->exit, peak_memory, reason); !s.ok()) {
    std::cerr << "cordon run: audit log write failed: " << s.message() << "\n";
    if (status == 0) status = kExitSetupFailure;
  }
  if (!auditor.has_log() && !auditor.violation_counts().empty()) {
    std::vector<std::string> parts;
    for (const auto& [name, count] : auditor.violation_counts()) {
      parts.push_back(absl::StrCat(name, " x", count));
    }
    std::cerr << "cordon run: denied syscalls: " << absl::StrJoin(parts, ", ")
              << " (use --audit-log for the full records)\n";
  }
  return status;
}

}  // namespace cordon::cli
