#ifndef CORDON_LAUNCHER_SERVE_CONTROL_SERVER_H_
#define CORDON_LAUNCHER_SERVE_CONTROL_SERVER_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "cordon/v1/control.pb.h"
#include "ipc/seqpacket_channel.h"
#include "ipc/unique_fd.h"
#include "launcher/broker/capability_use.h"
#include "launcher/host/audit_failure_enforcer.h"
#include "launcher/serve/access_policy.h"
#include "launcher/serve/call_relay.h"
#include "launcher/serve/peer_credentials.h"
#include "launcher/serve/plugin_registry.h"
#include "launcher/serve/worker_pool.h"

namespace cordon::serve {

// One ControlRequest / ControlResponse per datagram, at most this many bytes.
inline constexpr size_t kMaxControlDatagram = 1 << 20;
inline constexpr uint32_t kControlProtocolVersion = 1;

struct ControlServerOptions {
  std::string socket_path;
  // Admitted peers (SO_PEERCRED); both empty = the daemon's own euid only.
  std::set<uid_t> allow_uids;
  std::set<gid_t> allow_gids;
  // Default lifetime of a client's plugins when its load request does not choose one.
  bool plugins_outlive_clients = false;
  // Every admitted client sees and controls every plugin, not only its own uid's.
  bool share_plugins_between_clients = false;
  audit::AuditLog* audit_log = nullptr;  // not owned; may be null
  // Applies audit_log's failure policy to every plugin loaded here (wired as the log's
  // on_failure_callback by whoever opened it). Not owned; may be null.
  host::AuditFailureEnforcer* audit_failure_enforcer = nullptr;
  size_t max_clients = 64;
  // Requests a connection may have outstanding at once (each is served on its own thread).
  size_t max_requests_in_flight = 64;
  // Data-plane channels open at once per plugin (each has a relay thread).
  size_t max_channels_per_plugin = 16;
  // Grace given to a plugin unloaded because its client went away or the daemon stops.
  absl::Duration disconnect_grace = absl::Seconds(1);
  // control.refused records written per second at most (the rest are counted).
  uint64_t max_refusal_records_per_second = 20;
  // Mode of the socket file. Peers are checked by SO_PEERCRED, so the file is world
  // connectable by default: a refused client then reaches the daemon and is audited.
  mode_t socket_mode = 0666;
  // Loads may ask for a direct channel (ControlLoadRequest.direct_channel): calls then skip
  // the daemon, which no longer enforces their deadlines (`--no-direct-channels` clears it).
  bool allow_direct_channels = true;
  std::string version = "0.0.0";
  // Receives each loaded plugin's log lines (docs/broker.md) with the daemon's id for the
  // plugin; called on that plugin's reader thread. Unset: logs reach only the audit log.
  std::function<void(const std::string& plugin_id, const broker::LogEntry&)> log_sink;
};

// The `cordon serve` control socket: accepts clients on a unix SOCK_SEQPACKET socket, admits
// them by SO_PEERCRED before reading a byte, and serves the cordon.v1 control API (load, call,
// unload, list, stats) on a thread per connection plus a thread per outstanding request.
class ControlServer {
 public:
  // Binds the socket (replacing a stale socket file, never another kind of file) and starts
  // accepting.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Start(ControlServerOptions options);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Stops accepting, disconnects every client, unloads every plugin, removes the socket
  // file. Idempotent.
  void Stop();
  // Blocks until Stop() has been called (from a signal-handling thread, say).
  void Wait();

  // The answer for a failed request: the status as an Error that always decodes and fits one
  // datagram, whatever bytes it holds (message as valid UTF-8, payloads as text or hex, all
  // bounded: broker::BrokerReply::FillError), so a client's proto3 decoding never fails on it.
  static cordon::v1::ControlResponse ErrorResponse(
      const absl::Status& status,
      cordon::v1::ControlErrorSource source = cordon::v1::ERROR_SOURCE_DAEMON);

  const std::string& socket_path() const { return options_.socket_path; }
  size_t plugin_count() const { return registry_.size(); }
  uint64_t refused_count() const { return refused_.load(); }

 private:
  struct Client;
  explicit ControlServer(ControlServerOptions options);

  void AcceptLoop();
  void ServeClient(std::shared_ptr<Client> client);
  void Dispatch(std::shared_ptr<Client> client, cordon::v1::ControlRequest request);
  cordon::v1::ControlResponse Handle(Client& client, const cordon::v1::ControlRequest& request,
                                     std::vector<ipc::UniqueFd>* fds);
  cordon::v1::ControlResponse OpenChannel(Client& client,
                                          const cordon::v1::ControlOpenChannelRequest& req,
                                          std::vector<ipc::UniqueFd>* fds);
  cordon::v1::ControlResponse OpenDirect(Client& client, const std::shared_ptr<PluginEntry>& entry,
                                         std::vector<ipc::UniqueFd>* fds);
  void StopRelays(const std::string& plugin_id);
  // Gives back the direct channels a closing connection holds.
  void ReleaseDirectChannels(const Client& client);
  // Revokes `entry`'s direct grant, if any, and records control.close_channel with `why`
  // (the plugin's data channel is closed, so the holder reads EOF). `client`: the connection
  // releasing it, or null when the daemon does (unload, shutdown). Holds entry->direct_mu.
  void RevokeDirectGrant(PluginEntry& entry, const Client* client, const std::string& why);
  cordon::v1::ControlResponse Kill(Client& client, const cordon::v1::ControlKillRequest& req);
  cordon::v1::ControlResponse Load(Client& client, const cordon::v1::ControlLoadRequest& req);
  cordon::v1::ControlResponse Call(Client& client, const cordon::v1::ControlCallRequest& req);
  cordon::v1::ControlResponse Unload(Client& client, const cordon::v1::ControlUnloadRequest& req);
  void Refuse(ipc::UniqueFd fd, const PeerCredentials& peer, const std::string& why);
  // The append's status: an action that grants something (a load, a channel) must not
  // happen when its record could not be written; refusals and kills go ahead regardless.
  // `channel_id`: the direct grant the record is about (0: none).
  absl::Status Audit(const std::string& type, const Client& client, const std::string& plugin_id,
                     const std::string& detail, const std::string& decision = "",
                     uint64_t channel_id = 0);
  void UnloadAll(std::vector<std::shared_ptr<PluginEntry>> entries, const std::string& why);

  const ControlServerOptions options_;
  const AccessPolicy policy_;
  PluginRegistry registry_;
  ipc::UniqueFd listen_fd_;
  ipc::UniqueFd stop_fd_;  // eventfd: wakes the accept loop
  std::thread accept_thread_;
  std::atomic<uint64_t> refused_{0};
  // Refusal records are rate limited so a local user hammering the socket cannot flood the
  // audit log; the next record written carries how many were suppressed. Accept-thread only.
  absl::Time refusal_window_start_ = absl::InfinitePast();
  uint64_t refusals_in_window_ = 0;
  uint64_t refusals_suppressed_ = 0;
  std::atomic<uint64_t> next_connection_{1};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::list<std::shared_ptr<Client>> clients_;
  std::map<uint64_t, std::thread> client_threads_;
  WorkerPool workers_{8};
  std::mutex relays_mu_;
  std::map<std::string, std::vector<std::unique_ptr<CallRelay>>> relays_;  // by plugin id
  std::vector<uint64_t> finished_clients_;
};

}  // namespace cordon::serve

#endif  // CORDON_LAUNCHER_SERVE_CONTROL_SERVER_H_
