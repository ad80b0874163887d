#include "launcher/host/loaded_plugin.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cordon/v1/envelope.pb.h"
#include "launcher/host/sandbox_spec_builder.h"
#include "launcher/sandbox/sandbox_spawner.h"
#include "sandbox-profiles/profile_loader.h"

namespace cordon::host {
namespace {

constexpr char kPluginDir[] = "/plugin";

// The manifest may ask for less than the profile allows, never more.
std::optional<uint64_t> Tighter(uint64_t requested, uint64_t bound) {
  if (requested == 0) return std::nullopt;
  if (bound != 0 && requested > bound) return bound;
  return requested;
}

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

void LoadedPlugin::SetState(PluginState state, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == PluginState::kStopped || state_ == PluginState::kFailed) return;
    state_ = state;
    if (state == PluginState::kFailed) failure_reason_ = reason;
  }
  std::vector<std::pair<std::string, std::string>> fields;
  if (!reason.empty()) fields.emplace_back("reason", reason);
  if (auditor_ != nullptr) {
    absl::Status recorded =
        auditor_->RecordLifecycle(absl::StrCat("plugin.", PluginStateName(state)), fields);
    // A plugin whose transitions cannot be recorded does not keep running unless the log's
    // owner chose "deny requests" (which the broker and calls then do).
    if (!recorded.ok() && state != PluginState::kFailed && state != PluginState::kStopped &&
        auditor_->failure_policy() != audit::OnWriteFailure::kDenyRequests && process_ != nullptr) {
      (void)process_->Kill();
    }
  }
  if (request_.on_state_change) request_.on_state_change(state, reason);
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
  plugin->plugin_id_ =
      absl::StrCat(manifest.name(), "-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  plugin->auditor_ = std::make_unique<supervisor::PluginAuditor>(
      request.audit_log,
      supervisor::PluginIdentity{plugin->plugin_id_, manifest.name(), manifest.version()});
  (void)plugin->auditor_->RecordLifecycle(
      "plugin.load",
      {{"bundle", request.bundle_dir}, {"profile", request.profile}, {"entry", manifest.entry()}});

  auto fail = [&](const absl::Status& status) -> absl::Status {
    plugin->SetState(PluginState::kFailed, std::string(status.message()));
    return Named(label, status);
  };

  absl::StatusOr<cordon::v1::Profile> profile = profiles::ProfileLoader::Load(request.profile);
  if (!profile.ok()) return fail(profile.status());

  // Grants: what the manifest asks within the profile's bounds; anything beyond refuses the load.
  absl::StatusOr<broker::GrantSet> grants =
      broker::GrantSet::Intersect(manifest.capabilities(), profile->capabilities());
  if (!grants.ok()) return fail(grants.status());
  {
    LoadedPlugin* self = plugin.get();
    broker::BrokerHooks hooks;
    hooks.audit = [self](const broker::CapabilityUse& use) -> absl::Status {
      if (self->request_.audit_log == nullptr) return absl::OkStatus();
      audit::AuditRecord record = use.ToAuditRecord();
      record.SetPlugin(self->auditor_->identity());
      return self->request_.audit_log->Append(record);
    };
    // The broker's destructor flushes folded counts through this hook after plugin_id_ is
    // gone; auditor_ (declared before broker_) is still there.
    hooks.quota = [self, log = request.audit_log](const broker::QuotaHit& hit) -> absl::Status {
      absl::Status recorded;
      if (log != nullptr) {
        audit::AuditRecord record = hit.ToAuditRecord();
        record.SetPlugin(self->auditor_->identity());
        recorded = log->Append(record);
      }
      // Recorded before the kill it causes. This runs on the session's reader thread, like a
      // protocol violation's kill: Kill only records the failure and signals the sandbox.
      if (hit.action == "killed") {
        self->Kill(absl::StrCat(hit.quota, " quota exceeded: ", hit.detail));
      }
      return recorded;
    };
    if (!request.host_functions.empty()) {
      hooks.host_call = [self](const std::string& name, const std::string& input,
                               absl::Duration deadline) -> absl::StatusOr<std::string> {
        auto it = self->request_.host_functions.find(name);
        if (it == self->request_.host_functions.end()) {
          return absl::UnimplementedError(
              absl::StrCat("the host registered no function '", name, "'"));
        }
        return it->second(input, deadline);
      };
    }
    hooks.log_sink = request.log_sink;
    hooks.fd_scanner = [self] { return broker::FdCensus::ScanProcessTree(self->host_pid()); };
    broker::BrokerLimits limits = request.broker_limits;
    if (manifest.limits().broker_requests_per_second() > 0 &&
        (limits.requests_per_second <= 0 ||
         manifest.limits().broker_requests_per_second() < limits.requests_per_second)) {
      limits.requests_per_second = manifest.limits().broker_requests_per_second();
    }
    absl::StatusOr<std::unique_ptr<broker::Broker>> made =
        broker::Broker::Create(std::move(*grants), limits, std::move(hooks));
    if (!made.ok()) return fail(made.status());
    plugin->broker_ = std::move(*made);
  }

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return fail(absl::ErrnoToStatus(errno, "socketpair for the plugin channel"));
  }
  ipc::UniqueFd host_end(pair[0]);
  ipc::UniqueFd plugin_end(pair[1]);

  LaunchOverrides overrides;
  overrides.command.push_back(plugin->bundle_.entry_path.string());
  for (const std::string& arg : manifest.args()) overrides.command.push_back(arg);
  overrides.env = {"CORDON_CHANNEL_FD=3", absl::StrCat("CORDON_PLUGIN_DIR=", kPluginDir)};
  overrides.binds.push_back({plugin->bundle_.directory.string(), kPluginDir, false});
  overrides.pass_fds = {plugin_end.get()};
  const cordon::v1::Limits& bound = profile->limits();
  overrides.quotas.memory_bytes = Tighter(manifest.limits().memory_bytes(), bound.memory_bytes());
  overrides.quotas.pids = Tighter(manifest.limits().pids(), bound.pids());

  absl::StatusOr<SandboxPlan> plan = SandboxSpecBuilder::Build(*profile, overrides);
  if (!plan.ok()) return fail(plan.status());
  // A host is multi-threaded: the sandbox must not die with whichever thread loaded it. The
  // lifeline pipe still kills it when the host process dies.
  plan->spec.die_with_spawning_thread = false;
  plugin->kill_on_violation_ = plan->kill_on_violation;
  if (plan->wall_time_ms > 0) plugin->wall_time_limit_ = absl::Milliseconds(plan->wall_time_ms);
  if (manifest.limits().call_timeout_ms() > 0) {
    plugin->default_timeout_ = absl::Milliseconds(manifest.limits().call_timeout_ms());
  }
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
    return plugin->auditor_->RecordStart(start, "plugin.spawn");
  };
  absl::StatusOr<std::unique_ptr<sandbox::SandboxProcess>> process =
      sandbox::SandboxSpawner::Spawn(plan->spec, hooks);
  if (!process.ok()) return fail(process.status());
  plugin->process_ = std::move(*process);
  plugin_end.reset();
  {
    std::lock_guard<std::mutex> lock(plugin->mu_);
    plugin->state_ = PluginState::kSpawned;
  }
  plugin->supervisor_thread_ = std::thread([p = plugin.get()] { p->SuperviseUntilExit(); });

  ipc::PluginSession::Options options;
  options.plugin_label = absl::StrCat(label, " (pid ", plugin->process_->pid(), ")");
  if (manifest.limits().max_payload_bytes() > 0) {
    options.max_payload_bytes = manifest.limits().max_payload_bytes();
  }
  LoadedPlugin* raw = plugin.get();
  options.on_violation = [raw](const ipc::ProtocolViolation& violation) {
    // Recorded before the kill it causes.
    (void)raw->auditor_->RecordProtocolViolation(
        std::string(violation.AuditType()), std::string(violation.KindName()), violation.detail);
    raw->SetState(PluginState::kFailed, violation.detail);
    raw->Kill();
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
  plugin->SetState(PluginState::kProbing, "");

  ipc::HandshakeParams params;
  params.config = request.config;
  params.config_map = request.config_map;
  params.granted_capabilities = plugin->broker_->grants().ToCapabilities();
  if (manifest.limits().handshake_timeout_ms() > 0) {
    params.timeout = absl::Milliseconds(manifest.limits().handshake_timeout_ms());
  }
  params.accept = [&manifest](const ipc::PluginInfo& info) -> absl::Status {
    if (info.name != manifest.name()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "plugin announced name '", info.name, "' but its manifest says '", manifest.name(), "'"));
    }
    return absl::OkStatus();
  };
  absl::StatusOr<ipc::PluginInfo> info = plugin->session_->Handshake(params);
  if (!info.ok()) {
    plugin->SetState(PluginState::kFailed, std::string(info.status().message()));
    plugin->Kill();
    (void)plugin->WaitForExit(absl::InfiniteDuration());
    return Named(label, info.status());
  }
  plugin->info_ = *info;
  // Data channels are made per grant (GrantDirectChannel), never at spawn: a socket shared by
  // successive holders would let an earlier one keep reaching the plugin.
  if (request.direct_channel) plugin->max_direct_grants_ = info->max_data_channels;
  (void)plugin->auditor_->RecordLifecycle(
      "plugin.configure", {{"protocol_version", absl::StrCat(info->protocol_version)},
                           {"methods", absl::StrJoin(info->methods, ",")}});
  plugin->SetState(PluginState::kReady, "");
  return plugin;
}

void LoadedPlugin::SuperviseUntilExit() {
  supervisor::SupervisorOptions options;
  options.forward_signals = false;
  options.kill_on_violation = kill_on_violation_;
  options.wall_time_limit = wall_time_limit_;
  options.quota_event_fd = quotas_->event_fd();
  if (quotas_->has_cgroup()) {
    options.on_quota_poll = [this]() -> absl::Status {
      for (const quota::QuotaViolation& v : quotas_->PollEvents()) {
        std::string detail = v.count > 1 ? absl::StrCat(v.count, " events") : "";
        if (absl::Status s = auditor_->RecordQuota(v.quota, v.limit, v.observed, v.action, detail);
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    };
  }
  supervisor::SandboxSupervisor supervisor(process_.get(), auditor_.get(), options);
  absl::StatusOr<supervisor::SupervisionResult> result = supervisor.Run();
  // Folded broker refusals are counted before the exit record, not after it.
  broker_->FlushQuotaCounts();
  std::string reason;
  if (result.ok()) {
    uint64_t peak = 0;
    for (const quota::QuotaViolation& v : quotas_->Collect(result->exit, &peak)) {
      if (!v.recorded) {
        std::string detail = v.count > 1 ? absl::StrCat(v.count, " events") : "";
        (void)auditor_->RecordQuota(v.quota, v.limit, v.observed, v.action, detail);
      }
      // The same words as `cordon run` writes.
      if (reason.empty() && v.action == "killed") {
        reason = absl::StrCat("quota exceeded: ", v.quota, " (limit ", v.limit, ")");
      }
    }
    if (result->kill_reason != supervisor::KillReason::kNone && reason.empty()) {
      reason = result->KillReasonText();
    }
    if (reason.empty()) {
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
  if (!expected) SetState(PluginState::kFailed, reason);
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
  if (current == PluginState::kStopped || current == PluginState::kFailed) {
    return WaitForExit(absl::InfiniteDuration());
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
  SetState(PluginState::kDraining, "");
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
  if (!drained.ok() || !WaitForExit(left).ok()) {
    Kill();
    (void)WaitForExit(absl::InfiniteDuration());
    SetState(PluginState::kStopped, "killed after the grace period");
    return absl::DeadlineExceededError(
        absl::StrCat("plugin ", label(), " did not shut down within ", absl::FormatDuration(grace),
                     "; it was killed"));
  }
  SetState(PluginState::kStopped, "");
  return absl::OkStatus();
}

void LoadedPlugin::Kill(const std::string& reason) {
  SetState(PluginState::kFailed, reason);
  if (process_ != nullptr) (void)process_->Kill();
}

LoadedPlugin::~LoadedPlugin() {
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
