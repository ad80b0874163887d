#ifndef CORDON_LAUNCHER_HOST_LOADED_PLUGIN_H_
#define CORDON_LAUNCHER_HOST_LOADED_PLUGIN_H_

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "ipc/manifest_loader.h"
#include "ipc/plugin_session.h"
#include "ipc/unique_fd.h"
#include "launcher/broker/broker.h"
#include "launcher/host/audit_failure_enforcer.h"
#include "launcher/host/plugin_quotas.h"
#include "launcher/host/plugin_state.h"
#include "launcher/sandbox/sandbox_process.h"
#include "launcher/supervisor/plugin_auditor.h"
#include "launcher/supervisor/sandbox_supervisor.h"

namespace cordon::host {

// One data channel handed out: `fd` is the caller's end of a fresh SOCK_SEQPACKET socketpair
// (O_CLOEXEC) whose other end the plugin serves as data channel `id`.
struct DirectGrant {
  uint64_t id = 0;
  ipc::UniqueFd fd;
};

struct LoadRequest {
  std::string bundle_dir;           // directory holding manifest.textproto
  std::string profile = "default";  // NAME|PATH of the sandbox profile bounding the plugin
  std::string config;               // opaque host configuration sent in Welcome
  std::map<std::string, std::string> config_map;
  audit::AuditLog* audit_log = nullptr;  // not owned; may be null
  // Carries out audit_log's failure policy over every plugin writing to it (kill them all);
  // wired as the log's on_failure_callback. Not owned; may be null (then only the plugin whose
  // record failed is killed). See audit_failure_enforcer.h.
  AuditFailureEnforcer* audit_failure_enforcer = nullptr;
  // Called on every state change (load, spawn, probe, configure, ready, draining, stopped or
  // failed), after its plugin.<state> record, from whichever thread made it. Must not block
  // for long, must not call into the plugin and must not destroy it.
  std::function<void(PluginState, const std::string& reason)> on_state_change;
  // Host functions the plugin may call through the broker (host.call), by name. Only those the
  // profile bounds and the manifest requests are reachable. Called on the session's reader
  // thread; `deadline` is the plugin's, capped by broker_limits.
  std::map<std::string, std::function<absl::StatusOr<std::string>(const std::string& input,
                                                                  absl::Duration deadline)>>
      host_functions;
  // Receives the plugin's structured logs (log grant, rate-limited). Unset: dropped.
  std::function<void(const broker::LogEntry&)> log_sink;
  broker::BrokerLimits broker_limits;
  // Allow data channels: sockets a trusted caller takes with GrantDirectChannel() and uses
  // without this host in the middle (for plugins whose SDK offers them). Calls made on one
  // bypass Call(): no per-call deadline, no call accounting here; the sandbox, quotas,
  // wall-time limit, broker and audit log are unaffected.
  bool direct_channel = false;
};

// A plugin running in its own sandbox, reachable over its protobuf channel. Thread-safe:
// calls may come from many threads at once. The destructor kills a plugin that is still
// running and reaps it, so a LoadedPlugin never leaves a process behind.
class LoadedPlugin {
 public:
  // load → spawn → probe → configure → ready, each step an audit record written before it
  // takes effect. Every failure (a refused record included) kills what was started and
  // returns an error naming the plugin and the reason.
  static absl::StatusOr<std::unique_ptr<LoadedPlugin>> Load(const LoadRequest& request);
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  // One call with a deadline (0: the manifest's call_timeout_ms, else 30 s). A plugin that
  // misses it is killed (quota.violation call_deadline_exceeded).
  absl::StatusOr<std::string> Call(const std::string& method, const std::string& input,
                                   absl::Duration timeout = absl::ZeroDuration());
  std::future<absl::StatusOr<std::string>> CallAsync(std::string method, std::string input,
                                                     absl::Duration timeout = absl::ZeroDuration());
  // Large inputs without a copy: fill the buffer AcquireInput gives (a shared buffer the
  // plugin maps read-only when its SDK opted in, else a memfd sealed at the call), then call.
  absl::StatusOr<ipc::SharedInput> AcquireInput(size_t size);
  absl::StatusOr<std::string> Call(const std::string& method, ipc::SharedInput input,
                                   absl::Duration timeout = absl::ZeroDuration());

  // draining → stopped: refuses new calls, lets the plugin finish and exit within grace.
  // Otherwise it is killed (failed, with the grace in the reason) and DeadlineExceeded returned.
  // Already stopped: OK. Already failed: waits for the exit and returns FailedPrecondition with
  // the recorded reason, so a caller never reads a failure as a clean stop.
  absl::Status Shutdown(absl::Duration grace = absl::Seconds(5));
  // Kills the whole sandbox now (failed, with `reason`).
  void Kill(const std::string& reason = "killed by the host");

  PluginState state() const;
  const ipc::PluginInfo& info() const { return info_; }
  const cordon::v1::Manifest& manifest() const { return bundle_.manifest; }
  std::string label() const;
  // True when the request allowed direct channels and the plugin's SDK offered data channels
  // in its Hello (Hello.data_channels).
  bool serves_direct_channel() const { return max_direct_grants_ > 0; }
  // A new data channel: a socketpair whose plugin end is sent to the plugin
  // (Envelope{data_channel_open}) and whose other end is returned, speaking
  // Envelope{call_request} → Envelope{call_result} with the plugin itself. Each grant is its
  // own socket: revoking one never affects another. FailedPrecondition when the plugin serves
  // none or is not ready; ResourceExhausted when it already holds as many as it offered.
  absl::StatusOr<DirectGrant> GrantDirectChannel();
  // Takes grant `id` back (Envelope{data_channel_close}): the plugin closes its end, so the
  // holder reads EOF and can no longer reach it. NotFound for an id not outstanding.
  absl::Status RevokeDirectChannel(uint64_t id);

  // Host pid of the sandbox's init (pid 1 inside); the sandbox dies with it.
  pid_t host_pid() const { return process_ != nullptr ? process_->pid() : -1; }

 private:
  // FailedPrecondition naming the state unless the plugin is ready.
  absl::Status CheckCallable(const std::string& method) const;
  // Unavailable (with the failure reason) once the plugin failed, so a result that arrived
  // from a plugin being killed is not handed over.
  absl::Status CheckNotFailed(const std::string& method) const;
  // Adds the plugin's failure reason to a failed call's status.
  absl::Status WithFailureReason(const absl::Status& status) const;
  using Fields = std::vector<std::pair<std::string, std::string>>;
  LoadedPlugin() = default;
  // Moves to `state`: writes its record with `record` (plugin.<state> with the reason and
  // `fields` by default), then tells the observer. Toward stopped/failed the state changes
  // first and the move happens even when the record fails (a kill never waits for the log);
  // any other move happens only once its record is written, else the record's error is
  // returned and the caller kills the plugin. An illegal move (e.g. out of failed) is an
  // error too and changes nothing.
  absl::Status Transition(PluginState state, const std::string& reason, Fields fields = {});
  absl::Status Transition(PluginState state, const std::string& reason,
                          const std::function<absl::Status()>& record);
  // The plugin's own record could not be written: unless the log's policy only denies
  // requests, the plugin is killed (it cannot go on unrecorded).
  void OnRecordFailed(const absl::Status& status, const std::string& what);
  // Builds the broker (grants within the profile, hooks into this plugin's records).
  absl::Status MakeBroker(broker::GrantSet grants, const broker::BrokerLimits& limits);
  // The Hello's check: name and version as the manifest says; then the configure step.
  absl::Status AcceptHello(const ipc::PluginInfo& info);
  // Load's failure path: failed (with the status as reason), killed and reaped.
  absl::Status FailLoad(const absl::Status& status);
  void SuperviseUntilExit();
  absl::Status WaitForExit(absl::Duration timeout);

  ipc::PluginBundle bundle_;
  LoadRequest request_;
  std::unique_ptr<supervisor::PluginAuditor> auditor_;
  std::unique_ptr<PluginQuotas> quotas_;
  std::unique_ptr<sandbox::SandboxProcess> process_;
  // Read ends of the plugin's stdout and stderr pipes, until the supervisor takes them.
  ipc::UniqueFd stdout_read_;
  ipc::UniqueFd stderr_read_;
  // Declared before session_: the session's callbacks use it, so it must outlive the session.
  std::unique_ptr<broker::Broker> broker_;
  std::string plugin_id_;
  std::unique_ptr<ipc::PluginSession> session_;
  // Data channels the plugin may hold at once (0: none); set once before ready.
  uint32_t max_direct_grants_ = 0;
  std::mutex direct_mu_;              // orders grants and revocations on the channel
  std::set<uint64_t> direct_grants_;  // outstanding grant ids; guarded by direct_mu_
  uint64_t next_direct_grant_ = 1;    // ids only increase; guarded by direct_mu_
  ipc::PluginInfo info_;
  absl::Duration default_timeout_ = absl::Seconds(30);
  // Serialises transitions, so records and observers see them in order. Recursive because the
  // audit log's failure callback runs inside the Append of the transition that failed, and
  // may kill this very plugin (Kill is a transition).
  std::recursive_mutex transition_mu_;
  bool kill_on_violation_ = false;
  // Kill sent the sandbox its SIGKILL: the death is that kill, not RLIMIT_CPU's hard limit.
  std::atomic<bool> launcher_killed_{false};
  absl::Duration wall_time_limit_ = absl::InfiniteDuration();

  mutable std::mutex mu_;
  std::condition_variable exited_cv_;
  PluginState state_ = PluginState::kLoading;
  bool exited_ = false;
  std::string failure_reason_;
  std::thread supervisor_thread_;
};

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_LOADED_PLUGIN_H_
