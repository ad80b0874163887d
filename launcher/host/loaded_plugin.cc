#include "launcher/host/loaded_plugin.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cordon/v1/envelope.pb.h"
#include "launcher/host/effective_limits.h"
#include "launcher/host/output_lines.h"
#include "launcher/host/sandbox_spec_builder.h"
#include "launcher/sandbox/sandbox_spawner.h"
#include "sandbox-profiles/compiled_cache.h"
#include "sandbox-profiles/profile_loader.h"

namespace cordon::host {
namespace {

constexpr char kPluginDir[] = "/plugin";

absl::Status Named(const std::string& label, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("plugin ", label, ": ", status.message()));
}

// SOCK_SEQPACKET refuses a datagram larger than the sender's buffer: room for one full-size
// (1 MiB) call or result each way. FORCE lets a root host exceed wmem_max.
void SetDataChannelBuffers(int fd) {
  int size = (2 << 20) + (64 << 10);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
}

}  // namespace

absl::StatusOr<DirectGrant> LoadedPlugin::GrantDirectChannel() {
  if (max_direct_grants_ == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("plugin ", label(),
                     " has no direct channel (load it with direct_channel and an SDK that serves "
                     "data channels)"));
  }
  // The state is checked under direct_mu_: Shutdown leaves kReady before it takes every grant
  // back under the same lock, so no grant can slip in after that.
  std::lock_guard<std::mutex> lock(direct_mu_);
  PluginState current = state();
  if (current != PluginState::kReady) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plugin ", label(), " is ", PluginStateName(current), "; no direct channel to hand out"));
  }
  if (direct_grants_.size() >= max_direct_grants_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("plugin ", label(), " already holds ", direct_grants_.size(),
                     " direct channels (it serves ", max_direct_grants_, "); revoke one first"));
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair for a direct channel");
  }
  DirectGrant grant;
  grant.fd.reset(pair[0]);
  ipc::UniqueFd plugin_end(pair[1]);  // closed here once sent: the plugin holds the only copy
  SetDataChannelBuffers(pair[0]);
  SetDataChannelBuffers(pair[1]);
  grant.id = next_direct_grant_++;
  if (absl::Status sent = session_->SendDataChannelOpen(grant.id, plugin_end.get()); !sent.ok()) {
    return Named(label(), sent);
  }
  direct_grants_.insert(grant.id);
  return grant;
}

absl::Status LoadedPlugin::RevokeDirectChannel(uint64_t id) {
  std::lock_guard<std::mutex> lock(direct_mu_);
  if (direct_grants_.erase(id) == 0) {
    return absl::NotFoundError(
        absl::StrCat("plugin ", label(), " has no outstanding direct channel ", id));
  }
  // A failed send means the channel failed: the plugin is being killed, which closes every
  // data channel with it.
  return session_->SendDataChannelClose(id);
}

std::string LoadedPlugin::label() const {
  return absl::StrCat(bundle_.manifest.name(), " ", bundle_.manifest.version());
}

PluginState LoadedPlugin::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

absl::Status LoadedPlugin::Transition(PluginState state, const std::string& reason, Fields fields) {
  if (!reason.empty()) fields.emplace_back("reason", reason);
  return Transition(state, reason, [&]() -> absl::Status {
    if (auditor_ == nullptr) return absl::OkStatus();
    return auditor_->RecordLifecycle(absl::StrCat("plugin.", PluginStateName(state)), fields);
  });
}

absl::Status LoadedPlugin::Transition(PluginState state, const std::string& reason,
                                      const std::function<absl::Status()>& record) {
  std::lock_guard<std::recursive_mutex> serial(transition_mu_);
  auto illegal = [&](PluginState from) {
    return absl::FailedPreconditionError(absl::StrCat("plugin ", label(), " is ",
                                                      PluginStateName(from), "; cannot become ",
                                                      PluginStateName(state)));
  };
  const bool final_state = IsFinal(state);
  if (final_state) {
    // Taken before the record: once failed or stopped, nothing else happens to the plugin.
    std::lock_guard<std::mutex> lock(mu_);
    if (!IsLegalTransition(state_, state)) return illegal(state_);
    state_ = state;
    if (state == PluginState::kFailed) failure_reason_ = reason;
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    if (!IsLegalTransition(state_, state)) return illegal(state_);
  }
  // Written before the step takes effect. The log's failure callback may run in here and
  // kill this plugin (a nested transition to failed), so the state is checked again below.
  absl::Status recorded = record();
  if (!recorded.ok()) {
    recorded = absl::Status(
        recorded.code(), absl::StrCat("the plugin.", PluginStateName(state),
                                      " audit record could not be written: ", recorded.message()));
  }
  if (!final_state) {
    if (!recorded.ok()) return recorded;
    std::lock_guard<std::mutex> lock(mu_);
    if (!IsLegalTransition(state_, state)) return illegal(state_);
    state_ = state;
  }
  if (request_.on_state_change) request_.on_state_change(state, reason);
  return recorded;
}

void LoadedPlugin::OnRecordFailed(const absl::Status& status, const std::string& what) {
  if (auditor_ == nullptr || auditor_->failure_policy() == audit::OnWriteFailure::kDenyRequests) {
    return;
  }
  Kill(absl::StrCat("its ", what, " record could not be written (",
                    std::string(audit::OnWriteFailureName(auditor_->failure_policy())),
                    "): ", status.message()));
}

absl::Status LoadedPlugin::FailLoad(const absl::Status& status) {
  Kill(std::string(status.message()));
  if (supervisor_thread_.joinable()) (void)WaitForExit(absl::InfiniteDuration());
  return Named(label(), status);
}

absl::Status LoadedPlugin::MakeBroker(broker::GrantSet grants, const broker::BrokerLimits& limits) {
  broker::BrokerHooks hooks;
  hooks.audit = [this](const broker::CapabilityUse& use) -> absl::Status {
    if (request_.audit_log == nullptr) return absl::OkStatus();
    audit::AuditRecord record = use.ToAuditRecord();
    record.SetPlugin(auditor_->identity());
    absl::Status recorded = request_.audit_log->Append(record);
    // The broker denies the request itself; the plugin goes too unless the policy is deny.
    if (!recorded.ok()) OnRecordFailed(recorded, "capability.use");
    return recorded;
  };
  // The broker's destructor flushes folded counts through this hook after plugin_id_ is
  // gone; auditor_ (declared before broker_) is still there.
  hooks.quota = [this, log = request_.audit_log](const broker::QuotaHit& hit) -> absl::Status {
    absl::Status recorded;
    if (log != nullptr) {
      audit::AuditRecord record = hit.ToAuditRecord();
      record.SetPlugin(auditor_->identity());
      recorded = log->Append(record);
    }
    // Recorded before the kill it causes. This runs on the session's reader thread, like a
    // protocol violation's kill: Kill only records the failure and signals the sandbox.
    if (hit.action == "killed") Kill(absl::StrCat(hit.quota, " quota exceeded: ", hit.detail));
    return recorded;
  };
  if (!request_.host_functions.empty()) {
    hooks.host_call = [this](const std::string& name, const std::string& input,
                             absl::Duration deadline) -> absl::StatusOr<std::string> {
      auto it = request_.host_functions.find(name);
      if (it == request_.host_functions.end()) {
        return absl::UnimplementedError(
            absl::StrCat("the host registered no function '", name, "'"));
      }
      return it->second(input, deadline);
    };
  }
  hooks.log_sink = request_.log_sink;
  hooks.fd_scanner = [this] { return broker::FdCensus::ScanProcessTree(host_pid()); };
  absl::StatusOr<std::unique_ptr<broker::Broker>> made =
      broker::Broker::Create(std::move(grants), limits, std::move(hooks));
  if (!made.ok()) return made.status();
  broker_ = std::move(*made);
  return absl::OkStatus();
}

absl::Status LoadedPlugin::AcceptHello(const ipc::PluginInfo& info) {
  const cordon::v1::Manifest& manifest = bundle_.manifest;
  if (info.name != manifest.name()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "plugin announced name '", info.name, "' but its manifest says '", manifest.name(), "'"));
  }
  if (info.version != manifest.version()) {
    return absl::PermissionDeniedError(absl::StrCat("plugin announced version '", info.version,
                                                    "' but its manifest says '", manifest.version(),
                                                    "'; rebuild the plugin or fix the manifest"));
  }
  // configure: the Welcome (configuration, grants, limits) goes out after this returns.
  return Transition(PluginState::kConfiguring, "",
                    {{"protocol_version", absl::StrCat(info.protocol_version)},
                     {"methods", absl::StrJoin(info.methods, ",")}});
}

absl::StatusOr<std::unique_ptr<LoadedPlugin>> LoadedPlugin::Load(const LoadRequest& request) {
  std::unique_ptr<LoadedPlugin> plugin(new LoadedPlugin());
  plugin->request_ = request;
  absl::StatusOr<ipc::PluginBundle> bundle = ipc::ManifestLoader::LoadBundle(request.bundle_dir);
  if (!bundle.ok()) {
    return absl::Status(bundle.status().code(), absl::StrCat("plugin bundle ", request.bundle_dir,
                                                             ": ", bundle.status().message()));
  }
  plugin->bundle_ = std::move(*bundle);
  std::error_code ignored;
  plugin->bundle_.directory = std::filesystem::absolute(plugin->bundle_.directory, ignored);
  plugin->bundle_.entry_path = std::filesystem::absolute(plugin->bundle_.entry_path, ignored);
  const cordon::v1::Manifest& manifest = plugin->bundle_.manifest;
  const std::string label = plugin->label();
  if (request.audit_failure_enforcer != nullptr) {
    if (absl::Status s = request.audit_failure_enforcer->Add(plugin.get()); !s.ok()) {
      return Named(label, s);
    }
  }
  plugin->plugin_id_ =
      absl::StrCat(manifest.name(), "-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  plugin->auditor_ = std::make_unique<supervisor::PluginAuditor>(
      request.audit_log,
      supervisor::PluginIdentity{plugin->plugin_id_, manifest.name(), manifest.version()});
  if (absl::Status s = plugin->Transition(PluginState::kLoading, "",
                                          {{"bundle", request.bundle_dir},
                                           {"profile", request.profile},
                                           {"entry", manifest.entry()}});
      !s.ok()) {
    return plugin->FailLoad(s);
  }

  absl::StatusOr<cordon::v1::Profile> profile =
      profiles::ProfileLoader::LoadCached(request.profile, profiles::CompiledCache::Default());
  if (!profile.ok()) return plugin->FailLoad(profile.status());
  // A manifest range this host cannot speak at all is refused before anything is spawned.
  const ipc::VersionSpan manifest_versions{manifest.protocol().min(), manifest.protocol().max()};
  if (absl::StatusOr<uint32_t> v =
          ipc::VersionNegotiator::Negotiate(ipc::VersionSpan{}, manifest_versions);
      !v.ok()) {
    return plugin->FailLoad(absl::Status(
        v.status().code(), absl::StrCat("manifest protocol range: ", v.status().message())));
  }
  const EffectiveLimits limits(manifest, *profile, request.broker_limits);

  // Grants: what the manifest asks within the profile's bounds; anything beyond refuses the load.
  absl::StatusOr<broker::GrantSet> grants =
      broker::GrantSet::Intersect(manifest.capabilities(), profile->capabilities());
  if (!grants.ok()) return plugin->FailLoad(grants.status());
  if (absl::Status s = plugin->MakeBroker(std::move(*grants), limits.broker()); !s.ok()) {
    return plugin->FailLoad(s);
  }

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return plugin->FailLoad(absl::ErrnoToStatus(errno, "socketpair for the plugin channel"));
  }
  ipc::UniqueFd host_end(pair[0]);
  ipc::UniqueFd plugin_end(pair[1]);

  // stdio: never the host's. stdin is /dev/null; stdout and stderr are pipes whose lines
  // take the log path (grant, rate limit, record, log sink), so a plugin can neither read the
  // host's input nor write into the host's output (`cordon call`'s stdout is the result's)
  // or its terminal.
  ipc::UniqueFd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_in.valid()) {
    return plugin->FailLoad(absl::ErrnoToStatus(errno, "open /dev/null for the plugin's stdin"));
  }
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return plugin->FailLoad(absl::ErrnoToStatus(errno, "pipe2 for the plugin's stdout"));
  }
  ipc::UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    return plugin->FailLoad(absl::ErrnoToStatus(errno, "pipe2 for the plugin's stderr"));
  }
  ipc::UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);

  LaunchOverrides overrides;
  overrides.command.push_back(plugin->bundle_.entry_path.string());
  for (const std::string& arg : manifest.args()) overrides.command.push_back(arg);
  overrides.env = {"CORDON_CHANNEL_FD=3", absl::StrCat("CORDON_PLUGIN_DIR=", kPluginDir)};
  overrides.binds.push_back({plugin->bundle_.directory.string(), kPluginDir, false});
  overrides.pass_fds = {plugin_end.get()};
  overrides.quotas = limits.quotas();

  absl::StatusOr<SandboxPlan> plan = SandboxSpecBuilder::Build(*profile, overrides);
  if (!plan.ok()) return plugin->FailLoad(plan.status());
  // A host is multi-threaded: the sandbox must not die with whichever thread loaded it. The
  // lifeline pipe still kills it when the host process dies.
  plan->spec.die_with_spawning_thread = false;
  plan->spec.stdio[0] = null_in.get();
  plan->spec.stdio[1] = out_write.get();
  plan->spec.stdio[2] = err_write.get();
  plugin->kill_on_violation_ = plan->kill_on_violation;
  if (plan->wall_time_ms > 0) plugin->wall_time_limit_ = absl::Milliseconds(plan->wall_time_ms);
  plugin->default_timeout_ = limits.call_timeout();
  std::string fallback_note;
  plugin->quotas_ = PluginQuotas::Attach(&*plan, manifest.name(), &fallback_note);

  sandbox::SpawnHooks hooks;
  hooks.before_start = [&](pid_t pid) -> absl::Status {
    if (absl::Status s = plugin->quotas_->PlaceInCgroup(pid); !s.ok()) return s;
    supervisor::PluginStartInfo start;
    start.profile = profile->name();
    start.program = plan->spec.program;
    start.argv = plan->spec.argv;
    start.host_pid = pid;
    start.sandbox_uid = plan->spec.sandbox_uid;
    start.host_uid = geteuid() == 0 ? plan->spec.host_uid : geteuid();
    start.quota_backend = plugin->quotas_->backend();
    start.rootless = geteuid() != 0;
    start.seccomp_cached = plan->seccomp_from_cache;
    // No stderr of ours to say them on (a host library): the record carries them.
    if (!plan->seccomp_cache_warning.empty()) {
      start.seccomp_notes.push_back(plan->seccomp_cache_warning);
    }
    start.unenforced_quotas = plugin->quotas_->unenforced();
    start.quota_notes = plugin->quotas_->warnings();
    if (!fallback_note.empty()) start.quota_notes.push_back(fallback_note);
    // spawn: recorded while the entry has not started yet; an error aborts the spawn.
    return plugin->Transition(PluginState::kSpawned, "",
                              [&] { return plugin->auditor_->RecordStart(start, "plugin.spawn"); });
  };
  absl::StatusOr<std::unique_ptr<sandbox::SandboxProcess>> process =
      sandbox::SandboxSpawner::Spawn(plan->spec, hooks);
  if (!process.ok()) return plugin->FailLoad(process.status());
  plugin->process_ = std::move(*process);
  plugin_end.reset();
  // Only the plugin writes the pipes now: EOF comes when its last process is gone.
  null_in.reset();
  out_write.reset();
  err_write.reset();
  plugin->stdout_read_ = std::move(out_read);
  plugin->stderr_read_ = std::move(err_read);
  // Before the supervisor thread polls. The entry runs already; a failure only costs the
  // tmp_size record (the tmpfs size still holds), and plugin.probe says so, since a host
  // library has no stderr of its own.
  Fields probe_fields;
  if (absl::Status s = plugin->quotas_->WatchTmp(plugin->process_->tmp_dir_fd()); !s.ok()) {
    probe_fields.emplace_back("quota_notes", std::string(s.message()));
  }
  plugin->supervisor_thread_ = std::thread([p = plugin.get()] { p->SuperviseUntilExit(); });

  ipc::PluginSession::Options options;
  options.plugin_label = absl::StrCat(label, " (pid ", plugin->process_->pid(), ")");
  limits.ApplyTo(&options);
  LoadedPlugin* raw = plugin.get();
  options.on_violation = [raw](const ipc::ProtocolViolation& violation) {
    // Recorded before the kill it causes.
    (void)raw->auditor_->RecordProtocolViolation(
        std::string(violation.AuditType()), std::string(violation.KindName()), violation.detail);
    raw->Kill(violation.detail);
  };
  options.on_broker_request = [raw](const cordon::v1::BrokerRequest& request,
                                    std::vector<ipc::UniqueFd> fds) {
    broker::BrokerReply reply = raw->broker_->HandleRequest(request, std::move(fds));
    if (!reply.answer) return;  // a log line without an id: fire-and-forget
    absl::Status sent = raw->session_->SendBrokerResponse(reply.response, reply.raw_fds());
    // An answer that could not be encoded still answers, as an error, or the plugin would
    // wait out its timeout. A failed channel is the session's to report.
    if (!sent.ok() && raw->session_->status().ok()) {
      (void)raw->session_->SendBrokerResponse(
          broker::BrokerReply::Error(request.id(), sent).response, {});
    }
  };
  options.on_log = [raw](const cordon::v1::LogMessage& message) {
    raw->broker_->HandleLog(message);
  };
  plugin->session_ = std::make_unique<ipc::PluginSession>(std::move(host_end), options);
  if (absl::Status s = plugin->Transition(PluginState::kProbing, "", std::move(probe_fields));
      !s.ok()) {
    return plugin->FailLoad(s);
  }

  ipc::HandshakeParams params;
  params.manifest_versions = manifest_versions;
  params.config = request.config;
  params.config_map = request.config_map;
  params.granted_capabilities = plugin->broker_->grants().ToCapabilities();
  params.limits = limits.Announced(*plan);
  params.timeout = limits.handshake_timeout();
  params.accept = [raw](const ipc::PluginInfo& info) { return raw->AcceptHello(info); };
  absl::StatusOr<ipc::PluginInfo> info = plugin->session_->Handshake(params);
  if (!info.ok()) return plugin->FailLoad(info.status());
  plugin->info_ = *info;
  // Data channels are made per grant (GrantDirectChannel), never at spawn: a socket shared by
  // successive holders would let an earlier one keep reaching the plugin.
  if (request.direct_channel) plugin->max_direct_grants_ = info->max_data_channels;
  if (absl::Status s = plugin->Transition(PluginState::kReady, ""); !s.ok()) {
    return plugin->FailLoad(s);
  }
  return plugin;
}

void LoadedPlugin::SuperviseUntilExit() {
  supervisor::SupervisorOptions options;
  options.forward_signals = false;
  options.kill_on_violation = kill_on_violation_;
  options.wall_time_limit = wall_time_limit_;
  options.quota_event_fd = quotas_->event_fd();
  // The supervisor owns (and closes) the read ends from here on.
  options.stdout_pipe = stdout_read_.release();
  options.stderr_pipe = stderr_read_.release();
  // A line of stdout or stderr is cut where the broker would cut a log message.
  const size_t max_line = broker_->limits().max_log_message_bytes;
  OutputLines lines[2] = {
      OutputLines(max_line, [this](std::string_view line,
                                   bool cut) { broker_->HandleOutput(false, line, cut); }),
      OutputLines(max_line, [this](std::string_view line, bool cut) {
        broker_->HandleOutput(true, line, cut);
      })};
  options.on_output = [&lines](bool is_stderr, std::string_view bytes) {
    lines[is_stderr ? 1 : 0].Feed(bytes);
  };
  // A cgroup's counters or a watched /tmp: either needs the once-a-second look.
  if (quotas_->polls()) {
    options.on_quota_poll = [this]() -> absl::Status {
      for (const quota::QuotaViolation& v : quotas_->PollEvents()) {
        if (absl::Status s = PluginQuotas::Record(v, auditor_.get()); !s.ok()) return s;
      }
      return absl::OkStatus();
    };
  }
  supervisor::SandboxSupervisor supervisor(process_.get(), auditor_.get(), options);
  absl::StatusOr<supervisor::SupervisionResult> result = supervisor.Run();
  // Last lines without a newline, before the exit record.
  for (OutputLines& l : lines) l.Flush();
  // Folded broker refusals are counted before the exit record, not after it.
  broker_->FlushQuotaCounts();
  std::string reason;
  if (result.ok()) {
    // A kill the launcher decided itself (seccomp, wall time, audit failure, or Kill: the
    // host, a protocol violation, a missed deadline) is that kill, never a guessed quota kill,
    // as in `cordon run`.
    const bool launcher_killed =
        result->kill_reason != supervisor::KillReason::kNone || launcher_killed_.load();
    uint64_t peak = 0;
    std::string quota_killed;
    for (const quota::QuotaViolation& v : quotas_->Collect(result->exit, &peak, launcher_killed)) {
      if (!v.recorded) (void)PluginQuotas::Record(v, auditor_.get());
      if (quota_killed.empty() && v.action == "killed") {
        quota_killed = absl::StrCat(v.quota, " (limit ", v.limit, ")");
      }
    }
    result->exit.cpu_time = std::max(result->exit.cpu_time, quotas_->measured_cpu_time());
    // Collect's was the last look at /tmp: the tmpfs is freed now, not when the host drops
    // this entry.
    process_->CloseTmpDir();
    // The same words as `cordon run` writes. A memory or pids hit is only the reason when the
    // plugin died of a signal the launcher did not send.
    if (result->kill_reason != supervisor::KillReason::kNone) {
      reason = result->KillReasonText();
    } else if (!quota_killed.empty() && !launcher_killed && result->exit.signal() != 0) {
      reason = absl::StrCat("quota exceeded: ", quota_killed);
    } else {
      reason = result->exit.exited() ? absl::StrCat("exited with status ", result->exit.exit_code())
                                     : absl::StrCat("killed by signal ", result->exit.signal());
    }
    (void)auditor_->RecordExit(result->exit, peak, reason);
  } else {
    reason = std::string(result.status().message());
  }
  // Only a clean exit while draining is a stop; a crash or kill during the drain is a failure.
  bool clean = result.ok() && result->exit.exited() && result->exit.exit_code() == 0;
  bool expected;
  {
    std::lock_guard<std::mutex> lock(mu_);
    expected = clean && (state_ == PluginState::kDraining || state_ == PluginState::kStopped);
  }
  // The failure is recorded before waiters are woken: whoever returns from WaitForExit must
  // see the final state, not a stale "ready".
  if (!expected) (void)Transition(PluginState::kFailed, reason);
  {
    std::lock_guard<std::mutex> lock(mu_);
    exited_ = true;
  }
  exited_cv_.notify_all();
}

absl::Status LoadedPlugin::WaitForExit(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto done = [this] { return exited_; };
  if (timeout == absl::InfiniteDuration()) {
    exited_cv_.wait(lock, done);
    return absl::OkStatus();
  }
  if (!exited_cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), done)) {
    return absl::DeadlineExceededError("plugin did not exit in time");
  }
  return absl::OkStatus();
}

absl::Status LoadedPlugin::CheckCallable(const std::string& method) const {
  PluginState current = state();
  if (current == PluginState::kReady) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  return absl::FailedPreconditionError(
      absl::StrCat("plugin ", label(), " is ", PluginStateName(current),
                   failure_reason_.empty() ? "" : absl::StrCat(" (", failure_reason_, ")"),
                   "; cannot call ", method));
}

absl::Status LoadedPlugin::CheckNotFailed(const std::string& method) const {
  if (state() != PluginState::kFailed) return absl::OkStatus();
  // Killed while the result was on its way (e.g. its own request could not be recorded): the
  // host acts on nothing from a plugin it has given up on.
  return WithFailureReason(absl::UnavailableError(absl::StrCat(
      "plugin ", label(), " failed before the result of '", method, "' was handed over")));
}

absl::Status LoadedPlugin::WithFailureReason(const absl::Status& status) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (failure_reason_.empty()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(status.message(), " [plugin failed: ", failure_reason_, "]"));
}

absl::StatusOr<std::string> LoadedPlugin::Call(const std::string& method, const std::string& input,
                                               absl::Duration timeout) {
  if (absl::Status s = CheckCallable(method); !s.ok()) return s;
  if (timeout == absl::ZeroDuration()) timeout = default_timeout_;
  absl::StatusOr<std::string> result = session_->CallBytes(method, input, timeout);
  if (!result.ok()) return WithFailureReason(result.status());
  if (absl::Status s = CheckNotFailed(method); !s.ok()) return s;
  return result;
}

absl::StatusOr<ipc::SharedInput> LoadedPlugin::AcquireInput(size_t size) {
  if (absl::Status s = CheckCallable("(input buffer)"); !s.ok()) return s;
  return session_->AcquireInput(size);
}

absl::StatusOr<std::string> LoadedPlugin::Call(const std::string& method, ipc::SharedInput input,
                                               absl::Duration timeout) {
  if (absl::Status s = CheckCallable(method); !s.ok()) return s;
  if (timeout == absl::ZeroDuration()) timeout = default_timeout_;
  absl::StatusOr<ipc::Payload> result = session_->Call(method, std::move(input), timeout);
  if (!result.ok()) return WithFailureReason(result.status());
  if (absl::Status s = CheckNotFailed(method); !s.ok()) return s;
  return result->ToString();
}

std::future<absl::StatusOr<std::string>> LoadedPlugin::CallAsync(std::string method,
                                                                 std::string input,
                                                                 absl::Duration timeout) {
  return std::async(std::launch::async, [this, method = std::move(method), input = std::move(input),
                                         timeout] { return Call(method, input, timeout); });
}

absl::Status LoadedPlugin::Shutdown(absl::Duration grace) {
  PluginState current = state();
  if (current == PluginState::kStopped) return WaitForExit(absl::InfiniteDuration());
  if (current == PluginState::kFailed) {
    (void)WaitForExit(absl::InfiniteDuration());
    std::lock_guard<std::mutex> lock(mu_);
    return absl::FailedPreconditionError(absl::StrCat("plugin ", label(), " had already failed",
                                                      failure_reason_.empty() ? "" : ": ",
                                                      failure_reason_));
  }
  if (!session_->status().ok()) {
    // The channel is already gone (the plugin crashed or exited): there is nothing to drain.
    // Let the supervisor reap it so the recorded reason is the real one, not our kill.
    if (!WaitForExit(grace).ok()) Kill();
    (void)WaitForExit(absl::InfiniteDuration());
    std::lock_guard<std::mutex> lock(mu_);
    return absl::FailedPreconditionError(absl::StrCat(
        "plugin ", label(), " had already failed: ",
        failure_reason_.empty() ? std::string(session_->status().message()) : failure_reason_));
  }
  if (absl::Status s = Transition(PluginState::kDraining, ""); !s.ok()) {
    // Without its record there is no drain: the plugin ends the only way left.
    Kill(std::string(s.message()));
    (void)WaitForExit(absl::InfiniteDuration());
    return Named(label(), s);
  }
  {
    // Taken back before the shutdown request, so no holder's call still arrives during the
    // drain (GrantDirectChannel refuses from kDraining on).
    std::lock_guard<std::mutex> lock(direct_mu_);
    for (uint64_t id : direct_grants_) (void)session_->SendDataChannelClose(id);
    direct_grants_.clear();
  }
  absl::Time deadline = absl::Now() + grace;
  absl::Status drained = session_->Shutdown(grace);
  absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
  if (!WaitForExit(left).ok()) {
    const std::string why = absl::StrCat(
        "did not stop within the shutdown grace of ", absl::FormatDuration(grace),
        drained.ok() ? " (it acknowledged the shutdown but kept running)" : "", "; killed");
    Kill(why);
    (void)WaitForExit(absl::InfiniteDuration());
    return absl::DeadlineExceededError(absl::StrCat("plugin ", label(), " ", why));
  }
  // It exited in time. The supervisor already made anything but a clean exit a failure.
  if (state() == PluginState::kDraining) return Transition(PluginState::kStopped, "");
  std::lock_guard<std::mutex> lock(mu_);
  return absl::FailedPreconditionError(
      absl::StrCat("plugin ", label(), " failed while draining: ",
                   failure_reason_.empty() ? std::string(drained.message()) : failure_reason_));
}

void LoadedPlugin::Kill(const std::string& reason) {
  // Refused only when the plugin already stopped or failed; the signal goes out regardless.
  (void)Transition(PluginState::kFailed, reason);
  // Before the signal, so the supervisor sees it with the death it causes.
  launcher_killed_ = true;
  if (process_ != nullptr) (void)process_->Kill();
}

LoadedPlugin::~LoadedPlugin() {
  // First: the enforcer may be killing this plugin right now (Remove waits for it).
  if (request_.audit_failure_enforcer != nullptr) request_.audit_failure_enforcer->Remove(this);
  bool running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running = !exited_;
  }
  if (running && process_ != nullptr) Kill();
  if (supervisor_thread_.joinable()) supervisor_thread_.join();
  session_.reset();
  process_.reset();
}

}  // namespace cordon::host
