#include "launcher/serve/control_server.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "audit/audit_record.h"
#include "launcher/broker/broker_reply.h"
#include "launcher/host/plugin_state.h"

namespace cordon::serve {

struct ControlServer::Client {
  uint64_t id = 0;
  PeerCredentials peer;
  std::unique_ptr<ipc::SeqpacketChannel> channel;
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
};

namespace {

// Socket buffers big enough for one full-size datagram plus headroom; SOCK_SEQPACKET refuses
// (EMSGSIZE) any datagram larger than the sender's buffer.
constexpr int kSocketBuffer = 2 * kMaxControlDatagram + 64 * 1024;

void SetBuffers(int fd) {
  int size = kSocketBuffer;
  // SO_*BUFFORCE lets a root daemon exceed wmem_max/rmem_max; others fall back to the
  // capped variant.
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
}

}  // namespace

cordon::v1::ControlResponse ControlServer::ErrorResponse(const absl::Status& status,
                                                         cordon::v1::ControlErrorSource source) {
  cordon::v1::ControlResponse r;
  // Statuses from plugins, bundles and the host reach clients (the Go SDK among them) here;
  // the broker's filling keeps any bytes they hold from breaking the client's decoding.
  broker::BrokerReply::FillError(status, r.mutable_error());
  r.set_error_source(source);
  return r;
}

ControlServer::ControlServer(ControlServerOptions options)
    : options_(std::move(options)),
      policy_(options_.allow_uids, options_.allow_gids),
      registry_(options_.share_plugins_between_clients) {}

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Start(ControlServerOptions options) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (options.socket_path.empty() || options.socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path '", options.socket_path,
                                                   "' must be 1..", sizeof(addr.sun_path) - 1,
                                                   " bytes long"));
  }
  memcpy(addr.sun_path, options.socket_path.data(), options.socket_path.size());
  std::unique_ptr<ControlServer> server(new ControlServer(std::move(options)));
  const std::string& path = server->options_.socket_path;

  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "control socket path ", path, " exists and is not a socket; refusing to replace it"));
    }
    // A socket file left by a daemon that died; a live daemon would answer connect().
    ipc::UniqueFd probe(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (probe.get() >= 0 &&
        connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("another daemon is listening on ", path, "; stop it or pick another path"));
    }
    unlink(path.c_str());
  }

  server->listen_fd_.reset(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (server->listen_fd_.get() < 0) {
    return absl::InternalError(absl::StrCat("socket(AF_UNIX, SOCK_SEQPACKET): ", strerror(errno)));
  }
  if (bind(server->listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::InternalError(absl::StrCat("bind ", path, ": ", strerror(errno)));
  }
  if (chmod(path.c_str(), server->options_.socket_mode) != 0) {
    return absl::InternalError(absl::StrCat("chmod ", path, ": ", strerror(errno)));
  }
  if (listen(server->listen_fd_.get(), 64) != 0) {
    return absl::InternalError(absl::StrCat("listen ", path, ": ", strerror(errno)));
  }
  server->stop_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (server->stop_fd_.get() < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  if (server->options_.audit_log != nullptr) {
    (void)server->options_.audit_log->Append(
        audit::AuditRecord("control.listen")
            .Set("socket", path)
            .Set("allowed", server->policy_.Describe())
            .Set("plugins_outlive_clients", server->options_.plugins_outlive_clients)
            .Set("shared_plugins", server->options_.share_plugins_between_clients));
  }
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopping_; });
}

void ControlServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  uint64_t one = 1;
  if (stop_fd_.get() >= 0) (void)!write(stop_fd_.get(), &one, sizeof(one));
  if (accept_thread_.joinable()) accept_thread_.join();
  std::map<uint64_t, std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Wakes every client thread out of its receive; it then unloads its plugins and exits.
    for (const auto& c : clients_) shutdown(c->channel->fd(), SHUT_RDWR);
    threads.swap(client_threads_);
  }
  UnloadAll(registry_.TakeAll(), "daemon stopping");
  {
    std::lock_guard<std::mutex> lock(relays_mu_);
    relays_.clear();  // stops and joins any relay left on a plugin already gone
  }
  for (auto& [id, t] : threads) t.join();
  if (listen_fd_.get() >= 0) {
    listen_fd_.reset();
    unlink(options_.socket_path.c_str());
  }
}

void ControlServer::AcceptLoop() {
  for (;;) {
    {
      // Reap the threads of clients that have gone.
      std::lock_guard<std::mutex> lock(mu_);
      for (uint64_t id : finished_clients_) {
        auto it = client_threads_.find(id);
        if (it != client_threads_.end()) {
          it->second.join();
          client_threads_.erase(it);
        }
      }
      finished_clients_.clear();
    }
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    ipc::UniqueFd fd(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (fd.get() < 0) continue;
    // Decide on the kernel's record of the peer before reading anything it sent.
    absl::StatusOr<PeerCredentials> peer = PeerCredentials::Of(fd.get());
    if (!peer.ok()) {
      Refuse(std::move(fd), PeerCredentials(), std::string(peer.status().message()));
      continue;
    }
    if (!policy_.Admits(*peer)) {
      Refuse(std::move(fd), *peer, "peer not in the allowed uids/gids");
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (clients_.size() >= options_.max_clients) {
      Refuse(std::move(fd), *peer,
             absl::StrCat("too many clients (max ", options_.max_clients, ")"));
      continue;
    }
    SetBuffers(fd.get());
    auto client = std::make_shared<Client>();
    client->id = next_connection_.fetch_add(1);
    client->peer = *peer;
    ipc::SeqpacketChannel::Options copts;
    copts.max_datagram_bytes = kMaxControlDatagram;
    copts.max_fds = 1;  // the send side passes channel fds; received fds are closed unused
    client->channel = std::make_unique<ipc::SeqpacketChannel>(std::move(fd), copts);
    clients_.push_back(client);
    client_threads_[client->id] = std::thread([this, client] { ServeClient(client); });
  }
}

namespace {

// Closes the refused connection when the refusal (and its record) is done.
class Audited {
 public:
  explicit Audited(ipc::UniqueFd fd) : fd_(std::move(fd)) {}

 private:
  ipc::UniqueFd fd_;
};

}  // namespace

void ControlServer::Refuse(ipc::UniqueFd fd, const PeerCredentials& peer, const std::string& why) {
  refused_.fetch_add(1);
  // The record is written before the close (the peer's EOF), so whoever sees the refusal can
  // already find it in the log. A refused peer learns nothing but EOF.
  Audited refusal(std::move(fd));
  if (options_.audit_log == nullptr) return;
  const absl::Time now = absl::Now();
  if (now - refusal_window_start_ >= absl::Seconds(1)) {
    refusal_window_start_ = now;
    refusals_in_window_ = 0;
  }
  if (++refusals_in_window_ > options_.max_refusal_records_per_second) {
    ++refusals_suppressed_;
    return;
  }
  audit::AuditRecord record("control.refused");
  record.SetDecision("deny")
      .Set("peer_pid", static_cast<int64_t>(peer.pid))
      .Set("peer_uid", static_cast<uint64_t>(peer.uid))
      .Set("peer_gid", static_cast<uint64_t>(peer.gid))
      .Set("reason", why)
      .Set("socket", options_.socket_path);
  if (refusals_suppressed_ > 0) {
    record.Set("suppressed_before", refusals_suppressed_);
    refusals_suppressed_ = 0;
  }
  (void)options_.audit_log->Append(record);
}

absl::Status ControlServer::Audit(const std::string& type, const Client& client,
                                  const std::string& plugin_id, const std::string& detail,
                                  const std::string& decision, uint64_t channel_id) {
  if (options_.audit_log == nullptr) return absl::OkStatus();
  audit::AuditRecord record(type);
  if (!decision.empty()) record.SetDecision(decision);
  if (channel_id != 0) record.Set("channel_id", channel_id);
  return options_.audit_log->Append(record.Set("plugin_id", plugin_id)
                                        .Set("peer_pid", static_cast<int64_t>(client.peer.pid))
                                        .Set("peer_uid", static_cast<uint64_t>(client.peer.uid))
                                        .Set("connection", client.id)
                                        .Set("detail", detail));
}

void ControlServer::ServeClient(std::shared_ptr<Client> client) {
  for (;;) {
    absl::StatusOr<ipc::SeqpacketChannel::Datagram> dg =
        client->channel->Receive(absl::InfiniteFuture());
    if (!dg.ok()) break;  // EOF, shutdown, or an oversized datagram: drop the client
    cordon::v1::ControlRequest request;
    if (!request.ParseFromString(dg->bytes)) {
      cordon::v1::ControlResponse r = ErrorResponse(
          absl::InvalidArgumentError("malformed ControlRequest; closing the connection"));
      (void)client->channel->Send(r.SerializeAsString());
      break;
    }
    {
      std::lock_guard<std::mutex> lock(client->mu);
      if (client->in_flight >= options_.max_requests_in_flight) {
        cordon::v1::ControlResponse r = ErrorResponse(absl::ResourceExhaustedError(
            absl::StrCat("more than ", options_.max_requests_in_flight,
                         " requests in flight on this connection; wait for answers")));
        r.set_id(request.id());
        (void)client->channel->Send(r.SerializeAsString());
        continue;
      }
      ++client->in_flight;
    }
    workers_.Run([this, client, request = std::move(request)]() mutable {
      Dispatch(client, std::move(request));
    });
  }
  // Plugins tied to this connection go first, so calls still waiting on them end now.
  UnloadAll(registry_.TakeOwnedByConnection(client->id),
            absl::StrCat("client connection ", client->id, " closed"));
  {
    std::unique_lock<std::mutex> lock(client->mu);
    client->cv.wait(lock, [&] { return client->in_flight == 0; });
  }
  // After the wait: an open_channel still running in the pool could otherwise hand this
  // dead connection the direct channel after it was released, and keep it taken for good.
  ReleaseDirectChannels(*client);
  std::lock_guard<std::mutex> lock(mu_);
  clients_.remove(client);
  finished_clients_.push_back(client->id);
}

void ControlServer::Dispatch(std::shared_ptr<Client> client, cordon::v1::ControlRequest request) {
  std::vector<ipc::UniqueFd> fds;
  cordon::v1::ControlResponse response = Handle(*client, request, &fds);
  response.set_id(request.id());
  std::string bytes = response.SerializeAsString();
  if (bytes.size() > kMaxControlDatagram) {
    response = ErrorResponse(absl::ResourceExhaustedError(
        absl::StrCat("response of ", bytes.size(), " bytes exceeds the control datagram cap of ",
                     kMaxControlDatagram)));
    response.set_id(request.id());
    bytes = response.SerializeAsString();
    fds.clear();
  }
  std::vector<int> raw;
  for (const auto& fd : fds) raw.push_back(fd.get());
  (void)client->channel->Send(bytes, raw);
  std::lock_guard<std::mutex> lock(client->mu);
  --client->in_flight;
  client->cv.notify_all();
}

cordon::v1::ControlResponse ControlServer::Handle(Client& client,
                                                  const cordon::v1::ControlRequest& request,
                                                  std::vector<ipc::UniqueFd>* fds) {
  using cordon::v1::ControlRequest;
  switch (request.op_case()) {
    case ControlRequest::kLoad:
      return Load(client, request.load());
    case ControlRequest::kCall:
      return Call(client, request.call());
    case ControlRequest::kUnload:
      return Unload(client, request.unload());
    case ControlRequest::kList: {
      cordon::v1::ControlResponse r;
      auto* list = r.mutable_list();
      for (const auto& e : registry_.Visible(client.peer.uid)) *list->add_plugins() = e->Info();
      return r;
    }
    case ControlRequest::kStats: {
      cordon::v1::ControlResponse r;
      auto* stats = r.mutable_stats();
      if (!request.stats().plugin_id().empty()) {
        auto e = registry_.Find(request.stats().plugin_id(), client.peer.uid);
        if (!e.ok()) return ErrorResponse(e.status());
        *stats->add_stats() = (*e)->Stats();
      } else {
        for (const auto& e : registry_.Visible(client.peer.uid)) *stats->add_stats() = e->Stats();
      }
      return r;
    }
    case ControlRequest::kOpenChannel:
      return OpenChannel(client, request.open_channel(), fds);
    case ControlRequest::kKill:
      return Kill(client, request.kill());
    case ControlRequest::kPing: {
      cordon::v1::ControlResponse r;
      auto* p = r.mutable_ping();
      p->set_version(options_.version);
      p->set_control_protocol(kControlProtocolVersion);
      p->set_peer_uid(client.peer.uid);
      p->set_peer_gid(client.peer.gid);
      p->set_peer_pid(client.peer.pid);
      return r;
    }
    case ControlRequest::OP_NOT_SET:
      break;
  }
  return ErrorResponse(absl::InvalidArgumentError(
      "ControlRequest carries no known operation (this daemon speaks control protocol 1)"));
}

cordon::v1::ControlResponse ControlServer::Load(Client& client,
                                                const cordon::v1::ControlLoadRequest& req) {
  if (req.bundle_dir().empty()) {
    return ErrorResponse(absl::InvalidArgumentError("load: bundle_dir is empty"));
  }
  // A profile given by path could be any file the client wrote, and the daemon would apply
  // it with its own privilege (binds, quotas, syscalls): only clients with the daemon's own
  // uid (or root) may name one. Others pick among the installed profiles by name.
  if (req.profile().find('/') != std::string::npos && client.peer.uid != 0 &&
      client.peer.uid != geteuid()) {
    (void)Audit("control.load", client, "",
                absl::StrCat("denied: profile path '", req.profile(), "' from a non-root client"),
                "deny");
    return ErrorResponse(absl::PermissionDeniedError(
        absl::StrCat("load: profile '", req.profile(),
                     "' is a path; clients other than root pick an installed profile by NAME")));
  }
  auto entry = std::make_shared<PluginEntry>();
  entry->state = std::make_shared<PluginStateCell>();
  entry->owner_uid = client.peer.uid;
  entry->owner_pid = client.peer.pid;
  entry->owner_connection = client.id;
  entry->lifetime = req.lifetime();
  if (entry->lifetime == cordon::v1::LIFETIME_DEFAULT) {
    entry->lifetime = options_.plugins_outlive_clients ? cordon::v1::LIFETIME_DAEMON
                                                       : cordon::v1::LIFETIME_CONNECTION;
  }
  entry->bundle_dir = req.bundle_dir();
  entry->profile = req.profile().empty() ? "default" : req.profile();
  entry->loaded_at = absl::Now();
  if (req.direct_channel() && !options_.allow_direct_channels) {
    (void)Audit("control.load", client, "",
                absl::StrCat("denied: direct channel for ", req.bundle_dir(),
                             " (daemon runs with --no-direct-channels)"),
                "deny");
    return ErrorResponse(absl::PermissionDeniedError(
        "load: this daemon runs with --no-direct-channels; load without direct_channel and use "
        "the relayed channel"));
  }

  host::LoadRequest load;
  load.direct_channel = req.direct_channel();
  load.bundle_dir = entry->bundle_dir;
  load.profile = entry->profile;
  load.config = req.config();
  load.config_map =
      std::map<std::string, std::string>(req.config_map().begin(), req.config_map().end());
  load.audit_log = options_.audit_log;
  load.audit_failure_enforcer = options_.audit_failure_enforcer;
  if (options_.log_sink) {
    load.log_sink = [sink = options_.log_sink, id = entry->id](const broker::LogEntry& e) {
      sink(id, e);
    };
  }
  load.on_state_change = [cell = entry->state](host::PluginState state, const std::string& why) {
    std::lock_guard<std::mutex> lock(cell->mu);
    cell->state = host::PluginStateName(state);
    cell->reason = why;
  };
  absl::StatusOr<std::unique_ptr<host::LoadedPlugin>> plugin = host::LoadedPlugin::Load(load);
  if (!plugin.ok()) {
    (void)Audit("control.load", client, "", absl::StrCat("failed: ", plugin.status().message()),
                "deny");
    return ErrorResponse(plugin.status());
  }
  // Written before the plugin becomes reachable; without its record, it is not loaded.
  if (absl::Status recorded = Audit("control.load", client, entry->id,
                                    absl::StrCat(entry->bundle_dir, " as ", (*plugin)->label()));
      !recorded.ok()) {
    (*plugin)->Kill("its control.load record could not be written");
    return ErrorResponse(absl::UnavailableError(
        absl::StrCat("load refused: the audit record could not be written: ", recorded.message())));
  }
  entry->plugin = std::move(*plugin);
  registry_.Add(entry);
  cordon::v1::ControlResponse r;
  *r.mutable_load()->mutable_plugin() = entry->Info();
  return r;
}

cordon::v1::ControlResponse ControlServer::Call(Client& client,
                                                const cordon::v1::ControlCallRequest& req) {
  auto found = registry_.Find(req.plugin_id(), client.peer.uid);
  if (!found.ok()) return ErrorResponse(found.status());
  std::shared_ptr<PluginEntry> entry = *found;
  if (req.input().has_memfd()) {
    return ErrorResponse(absl::InvalidArgumentError(
        "call: memfd inputs are not accepted on the control socket; send the input inline"));
  }
  const std::string& input = req.input().inline_();
  entry->calls_in_flight.fetch_add(1);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> out =
      entry->plugin->Call(req.method(), input, absl::Milliseconds(req.timeout_ms()));
  const absl::Duration took = absl::Now() - start;
  entry->calls_in_flight.fetch_sub(1);
  entry->RecordCall(took, input.size(), out.ok() ? out->size() : 0, out.status());
  if (!out.ok()) {
    // The session words an error the plugin sent itself as "method 'M' failed: ..."; every
    // other failure (crash, timeout kill, violation, channel loss) is the sandbox failing
    // under the call. The plugin's state cannot tell: its supervisor may not have seen the
    // exit yet.
    const bool from_plugin = absl::StrContains(
        out.status().message(), absl::StrCat("method '", req.method(), "' failed: "));
    return ErrorResponse(out.status(), from_plugin ? cordon::v1::ERROR_SOURCE_PLUGIN
                                                   : cordon::v1::ERROR_SOURCE_SANDBOX);
  }
  cordon::v1::ControlResponse r;
  r.mutable_call()->mutable_output()->set_inline_(std::move(*out));
  r.mutable_call()->set_plugin_time_us(static_cast<uint64_t>(absl::ToInt64Microseconds(took)));
  return r;
}

cordon::v1::ControlResponse ControlServer::Unload(Client& client,
                                                  const cordon::v1::ControlUnloadRequest& req) {
  auto taken = registry_.Take(req.plugin_id(), client.peer.uid);
  if (!taken.ok()) return ErrorResponse(taken.status());
  std::shared_ptr<PluginEntry> entry = *taken;
  RevokeDirectGrant(*entry, nullptr, "direct channel taken back: plugin unloaded");
  absl::Duration grace =
      req.grace_ms() == 0 ? absl::Seconds(5) : absl::Milliseconds(req.grace_ms());
  absl::Status shut = entry->plugin->Shutdown(grace);
  // After the shutdown, so a relay blocked in a call has had it answered or failed.
  StopRelays(entry->id);
  (void)Audit("control.unload", client, entry->id,
              shut.ok() ? "stopped" : std::string(shut.message()));
  cordon::v1::ControlResponse r;
  std::lock_guard<std::mutex> lock(entry->state->mu);
  r.mutable_unload()->set_state(entry->state->state);
  r.mutable_unload()->set_reason(shut.ok() ? entry->state->reason : std::string(shut.message()));
  return r;
}

cordon::v1::ControlResponse ControlServer::OpenChannel(
    Client& client, const cordon::v1::ControlOpenChannelRequest& req,
    std::vector<ipc::UniqueFd>* fds) {
  auto found = registry_.Find(req.plugin_id(), client.peer.uid);
  if (!found.ok()) return ErrorResponse(found.status());
  std::shared_ptr<PluginEntry> entry = *found;
  if (entry->plugin->serves_direct_channel()) return OpenDirect(client, entry, fds);
  absl::StatusOr<std::pair<ipc::UniqueFd, ipc::UniqueFd>> pair =
      ipc::SeqpacketChannel::SocketPair();
  if (!pair.ok()) return ErrorResponse(pair.status());
  SetBuffers(pair->first.get());
  SetBuffers(pair->second.get());
  {
    std::lock_guard<std::mutex> lock(relays_mu_);
    auto& list = relays_[entry->id];
    // Reap relays whose client end has closed before counting.
    list.erase(std::remove_if(list.begin(), list.end(),
                              [](const std::unique_ptr<CallRelay>& r) { return r->finished(); }),
               list.end());
    if (list.size() >= options_.max_channels_per_plugin) {
      return ErrorResponse(absl::ResourceExhaustedError(
          absl::StrCat("plugin ", entry->id, " already has ", list.size(), " open channels (max ",
                       options_.max_channels_per_plugin, "); close one first")));
    }
    // Written before the fd leaves the daemon; without its record, no channel.
    if (absl::Status recorded = Audit("control.open_channel", client, entry->id,
                                      "data-plane channel handed to the client", "allow");
        !recorded.ok()) {
      return ErrorResponse(absl::UnavailableError(absl::StrCat(
          "open_channel refused: the audit record could not be written: ", recorded.message())));
    }
    list.push_back(std::make_unique<CallRelay>(entry, std::move(pair->first)));
  }
  entry->direct_channels_opened.fetch_add(1);
  fds->push_back(std::move(pair->second));
  cordon::v1::ControlResponse r;
  r.mutable_open_channel()->set_fd_index(0);
  r.mutable_open_channel()->set_max_datagram_bytes(kMaxChannelDatagram);
  return r;
}

cordon::v1::ControlResponse ControlServer::OpenDirect(Client& client,
                                                      const std::shared_ptr<PluginEntry>& entry,
                                                      std::vector<ipc::UniqueFd>* fds) {
  // Shared plugins are visible to other uids, but the socket reaches the plugin with nobody
  // in between: only the owner gets it.
  if (client.peer.uid != entry->owner_uid) {
    (void)Audit("control.open_channel", client, entry->id,
                absl::StrCat("denied: direct channel of a plugin owned by uid ", entry->owner_uid),
                "deny");
    return ErrorResponse(absl::PermissionDeniedError(
        absl::StrCat("open_channel: plugin ", entry->id,
                     " has a direct channel, which only its owner may take")));
  }
  host::DirectGrant grant;
  {
    std::lock_guard<std::mutex> lock(entry->direct_mu);
    if (entry->direct_holder != 0 && entry->direct_holder != client.id) {
      (void)Audit("control.open_channel", client, entry->id,
                  absl::StrCat("denied: direct channel held by connection ", entry->direct_holder),
                  "deny");
      return ErrorResponse(absl::FailedPreconditionError(absl::StrCat(
          "open_channel: the direct channel of plugin ", entry->id,
          " is held by another connection (one at a time); it is free once that connection "
          "closes")));
    }
    // The holder asking again gets a new socket; the one it had is taken back first, so
    // there is never more than one live socket to the plugin per plugin in this daemon.
    if (entry->direct_holder == client.id) {
      (void)entry->plugin->RevokeDirectChannel(entry->direct_grant);
      (void)Audit("control.close_channel", client, entry->id,
                  "direct channel taken back: replaced by a new grant", "", entry->direct_grant);
      entry->direct_holder = 0;
      entry->direct_grant = 0;
    }
    absl::StatusOr<host::DirectGrant> granted = entry->plugin->GrantDirectChannel();
    if (!granted.ok()) {
      (void)Audit("control.open_channel", client, entry->id,
                  absl::StrCat("denied: ", granted.status().message()), "deny");
      return ErrorResponse(granted.status());
    }
    // Written before the fd leaves the daemon; without its record, no channel (the plugin's
    // end is taken back at once).
    if (absl::Status recorded = Audit(
            "control.open_channel", client, entry->id,
            "direct channel handed to the client (calls bypass the daemon)", "allow", granted->id);
        !recorded.ok()) {
      (void)entry->plugin->RevokeDirectChannel(granted->id);
      return ErrorResponse(absl::UnavailableError(absl::StrCat(
          "open_channel refused: the audit record could not be written: ", recorded.message())));
    }
    entry->direct_holder = client.id;
    entry->direct_grant = granted->id;
    grant = std::move(*granted);
  }
  entry->direct_channels_opened.fetch_add(1);
  fds->push_back(std::move(grant.fd));
  cordon::v1::ControlResponse r;
  r.mutable_open_channel()->set_fd_index(0);
  r.mutable_open_channel()->set_max_datagram_bytes(kMaxChannelDatagram);
  r.mutable_open_channel()->set_direct(true);
  return r;
}

void ControlServer::RevokeDirectGrant(PluginEntry& entry, const Client* client,
                                      const std::string& why) {
  std::lock_guard<std::mutex> lock(entry.direct_mu);
  if (entry.direct_holder == 0) return;
  // Fails only when the plugin's channel already failed: it is dying, and its data channels
  // with it.
  (void)entry.plugin->RevokeDirectChannel(entry.direct_grant);
  if (client != nullptr) {
    (void)Audit("control.close_channel", *client, entry.id, why, "", entry.direct_grant);
  } else if (options_.audit_log != nullptr) {
    (void)options_.audit_log->Append(audit::AuditRecord("control.close_channel")
                                         .Set("plugin_id", entry.id)
                                         .Set("connection", entry.direct_holder)
                                         .Set("channel_id", entry.direct_grant)
                                         .Set("detail", why));
  }
  entry.direct_holder = 0;
  entry.direct_grant = 0;
}

void ControlServer::ReleaseDirectChannels(const Client& client) {
  for (const auto& entry : registry_.All()) {
    {
      std::lock_guard<std::mutex> lock(entry->direct_mu);
      if (entry->direct_holder != client.id) continue;
    }
    // Another connection cannot take it in between: only this (closing) one holds it.
    RevokeDirectGrant(*entry, &client, "direct channel released");
  }
}

cordon::v1::ControlResponse ControlServer::Kill(Client& client,
                                                const cordon::v1::ControlKillRequest& req) {
  auto found = registry_.Find(req.plugin_id(), client.peer.uid);
  if (!found.ok()) return ErrorResponse(found.status());
  std::shared_ptr<PluginEntry> entry = *found;
  // Capped on a UTF-8 boundary: the reason goes back into proto3 strings, which a client
  // rejects whole when they are not valid UTF-8.
  size_t cut = std::min<size_t>(req.reason().size(), 1024);
  while (cut > 0 && cut < req.reason().size() &&
         (static_cast<unsigned char>(req.reason()[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  std::string reason = req.reason().substr(0, cut);
  if (reason.empty()) reason = "no reason given";
  reason = absl::StrCat("killed at the request of client uid ", client.peer.uid, ": ", reason);
  // Recorded before the kill it causes.
  (void)Audit("control.kill", client, entry->id, reason, "allow");
  entry->plugin->Kill(reason);
  cordon::v1::ControlResponse r;
  std::lock_guard<std::mutex> lock(entry->state->mu);
  r.mutable_kill()->set_state(entry->state->state);
  r.mutable_kill()->set_reason(entry->state->reason);
  return r;
}

void ControlServer::StopRelays(const std::string& plugin_id) {
  std::vector<std::unique_ptr<CallRelay>> relays;
  {
    std::lock_guard<std::mutex> lock(relays_mu_);
    auto it = relays_.find(plugin_id);
    if (it == relays_.end()) return;
    relays = std::move(it->second);
    relays_.erase(it);
  }
  relays.clear();  // each destructor stops and joins its relay
}

void ControlServer::UnloadAll(std::vector<std::shared_ptr<PluginEntry>> entries,
                              const std::string& why) {
  // In parallel, so one slow drain does not hold up the others.
  std::vector<std::thread> threads;
  for (auto& e : entries) {
    threads.emplace_back([this, e, why] {
      RevokeDirectGrant(*e, nullptr, absl::StrCat("direct channel taken back: ", why));
      absl::Status s = e->plugin->Shutdown(options_.disconnect_grace);
      StopRelays(e->id);
      if (options_.audit_log != nullptr) {
        (void)options_.audit_log->Append(audit::AuditRecord("control.unload")
                                             .Set("plugin_id", e->id)
                                             .Set("reason", why)
                                             .Set("detail", s.ok() ? "stopped" : s.ToString()));
      }
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace cordon::serve
