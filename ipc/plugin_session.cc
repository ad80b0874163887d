#include "ipc/plugin_session.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cordon::ipc {

using cordon::v1::Envelope;

struct PluginSession::PendingCall {
  std::string method;
  bool done = false;
  bool answered = false;          // a CallResult arrived (the plugin is done with the input)
  uint64_t result_buffer_id = 0;  // the shared result buffer lent to the call; 0: none
  absl::StatusOr<Payload> result = absl::UnknownError("no result");
};

namespace {

absl::StatusCode SanitizeCode(int32_t code) {
  // A plugin-chosen code must not read as success or as a value absl does not define.
  if (code <= 0 || code > static_cast<int32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::StatusCode::kUnknown;
  }
  return static_cast<absl::StatusCode>(code);
}

// Same code and payloads (so the violation kind survives), new message.
absl::Status Reworded(const absl::Status& status, absl::string_view message) {
  absl::Status out(status.code(), message);
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return Reworded(status, absl::StrCat(prefix, status.message()));
}

int PollTimeoutMs(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return -1;
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d) + 1, 0, 1 << 30));
}

}  // namespace

PluginSession::PluginSession(UniqueFd channel, Options options)
    : options_(std::move(options)),
      channel_(std::move(channel),
               [&] {
                 SeqpacketChannel::Options c = options_.channel;
                 c.send_timeout = options_.send_timeout;
                 return c;
               }()),
      codec_([&] {
        EnvelopeLimits l = options_.envelope;
        l.max_bytes = std::min(l.max_bytes, options_.channel.max_datagram_bytes);
        return l;
      }()),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      buffers_(SessionBuffers::Options{options_.shared_inputs, options_.shared_results,
                                       options_.max_payload_bytes}) {}

PluginSession::~PluginSession() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  Wake();
  cv_.notify_all();
  background_cv_.notify_all();
  if (reader_.joinable()) reader_.join();
  Fail(absl::CancelledError(absl::StrCat(Label(), ": session closed by the host")));
}

void PluginSession::Wake() {
  uint64_t one = 1;
  // Cannot fail short of counter overflow, and then a wake-up is pending anyway.
  (void)!::write(wake_fd_.get(), &one, sizeof(one));
}

std::string PluginSession::Label() const {
  if (!info_.name.empty() && options_.plugin_label == "plugin") {
    return absl::StrCat("plugin ", info_.name, " ", info_.version);
  }
  return options_.plugin_label;
}

absl::Status PluginSession::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

void PluginSession::Fail(absl::Status status) {
  if (failing_.exchange(true)) return;  // the first failure is the one reported
  {
    std::lock_guard<std::mutex> lock(mu_);
    failure_ = status;
  }
  // Report before failing the outstanding calls, so that when a call returns the violation the
  // launcher has already been told (and may already be killing the plugin).
  std::optional<ViolationKind> kind = ViolationKindOf(status);
  if (kind.has_value() && options_.on_violation) {
    options_.on_violation(ProtocolViolation{*kind, std::string(status.message())});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, call] : pending_) {
      call->done = true;
      call->result =
          Reworded(status, absl::StrCat(status.message(), " (call '", call->method, "' failed)"));
    }
    pending_.clear();
  }
  // A thread polling or blocked in recvmsg on the channel must notice too; nothing is read
  // from a failed session, and nothing needs sending any more.
  if (channel_.fd() >= 0) ::shutdown(channel_.fd(), SHUT_RDWR);
  Wake();
  cv_.notify_all();
  background_cv_.notify_all();
}

absl::Status PluginSession::HandshakeFailure(absl::Status status) {
  absl::Status s = Prefixed(absl::StrCat(Label(), ": handshake failed: "), status);
  Fail(s);
  return s;
}

absl::Status PluginSession::SendEnvelope(const Envelope& envelope, absl::Span<const int> fds) {
  auto bytes = codec_.Encode(envelope);
  if (!bytes.ok()) return bytes.status();
  absl::Status sent = channel_.Send(*bytes, fds);
  if (absl::IsDeadlineExceeded(sent)) {
    // Typically a plugin that pipelines broker requests without reading the answers; the
    // thread answering must not hang with it.
    absl::Status s = ViolationStatus(
        ViolationKind::kMessageFlood,
        absl::StrCat(Label(),
                     ": stopped reading its channel while sending to it: ", sent.message()));
    Fail(s);
    return s;
  }
  return sent;
}

absl::Status PluginSession::SendDataChannelOpen(uint64_t id, int plugin_end) {
  if (info_.max_data_channels == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(Label(), " did not offer data channels in its hello"));
  }
  if (absl::Status s = status(); !s.ok()) return s;
  Envelope env;
  env.mutable_data_channel_open()->set_channel_id(id);
  return SendEnvelope(env, absl::MakeConstSpan(&plugin_end, 1));
}

absl::Status PluginSession::SendDataChannelClose(uint64_t id) {
  if (info_.max_data_channels == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(Label(), " did not offer data channels in its hello"));
  }
  if (absl::Status s = status(); !s.ok()) return s;
  Envelope env;
  env.mutable_data_channel_close()->set_channel_id(id);
  return SendEnvelope(env, {});
}

absl::StatusOr<PluginInfo> PluginSession::Handshake(const HandshakeParams& params) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (handshake_done_) return absl::FailedPreconditionError("Handshake() called twice");
    if (!failure_.ok()) return failure_;
    handshake_done_ = true;
  }
  const absl::Time deadline = absl::Now() + params.timeout;
  auto receive = [&](absl::string_view waiting_for) -> absl::StatusOr<Envelope> {
    auto dg = channel_.Receive(deadline);
    if (!dg.ok()) {
      if (absl::IsDeadlineExceeded(dg.status())) {
        return ViolationStatus(ViolationKind::kHandshakeTimeout,
                               absl::StrCat("no ", waiting_for, " within the handshake timeout of ",
                                            absl::FormatDuration(params.timeout)));
      }
      if (absl::IsUnavailable(dg.status())) {
        return absl::UnavailableError(absl::StrCat(
            "the plugin closed its channel (exited or crashed) before sending ", waiting_for));
      }
      return dg.status();
    }
    auto env = codec_.Decode(dg->bytes);
    if (!env.ok()) return env.status();
    return env;
  };

  auto hello_env = receive("hello");
  if (!hello_env.ok()) return HandshakeFailure(hello_env.status());
  if (!hello_env->has_hello()) {
    return HandshakeFailure(ViolationStatus(
        ViolationKind::kUnexpectedMessage,
        absl::StrCat("expected hello first, got ", EnvelopeCodec::MessageName(*hello_env))));
  }
  const auto& hello = hello_env->hello();
  PluginInfo info;
  info.name = hello.name();
  info.version = hello.version();
  info.sdk = hello.sdk();
  info.protocol = VersionSpan{hello.protocol().min(), hello.protocol().max()};
  info.methods.assign(hello.methods().begin(), hello.methods().end());
  info.requested_capabilities.assign(hello.requested_capabilities().begin(),
                                     hello.requested_capabilities().end());
  info.shared_input = SessionBuffers::OffersSharedInput(hello);
  if (info.shared_input) info.shared_input_caps = hello.shared_input();
  info.shared_result = SessionBuffers::OffersSharedResult(hello);
  if (info.shared_result) info.shared_result_caps = hello.shared_result();
  info.max_data_channels = std::min(hello.data_channels().max_open(), kMaxDataChannels);

  auto reject = [&](absl::Status why) -> absl::Status {
    Envelope r;
    r.mutable_reject()->set_reason(std::string(why.message()));
    r.mutable_reject()->mutable_host_protocol()->set_min(params.host_versions.min);
    r.mutable_reject()->mutable_host_protocol()->set_max(params.host_versions.max);
    // Best effort: the plugin may already be gone; the host-side error is what matters.
    (void)SendEnvelope(r, {});
    return HandshakeFailure(why);
  };

  if (!IsValidPluginName(info.name)) {
    return reject(ViolationStatus(ViolationKind::kMalformedEnvelope,
                                  "hello.name must match [a-z0-9][a-z0-9._-]{0,63}"));
  }
  if (!IsValidSemver(info.version)) {
    return reject(ViolationStatus(
        ViolationKind::kMalformedEnvelope,
        absl::StrCat("hello.version '", info.version, "' is not a semantic version")));
  }
  for (const auto& m : info.methods) {
    if (!IsValidMethodName(m, codec_.limits().max_method_bytes)) {
      return reject(ViolationStatus(
          ViolationKind::kMalformedEnvelope,
          absl::StrCat("hello.methods has an invalid name '", m.substr(0, 64), "'")));
    }
  }
  info_ = info;  // from here on errors name the plugin
  absl::StatusOr<uint32_t> version = VersionNegotiator::NegotiateWithManifest(
      params.host_versions, params.manifest_versions, info.protocol);
  if (!version.ok()) return reject(version.status());
  info.protocol_version = *version;
  info_ = info;
  if (params.accept) {
    if (auto s = params.accept(info); !s.ok()) return reject(s);
  }

  Envelope welcome_env;
  auto* w = welcome_env.mutable_welcome();
  w->set_protocol_version(*version);
  w->set_config(params.config);
  for (const auto& [k, v] : params.config_map) (*w->mutable_config_map())[k] = v;
  for (const auto& c : params.granted_capabilities) *w->add_granted_capabilities() = c;
  *w->mutable_limits() = params.limits;
  if (options_.heartbeat_timeout > absl::ZeroDuration() &&
      w->limits().heartbeat_interval_ms() == 0) {
    w->mutable_limits()->set_heartbeat_interval_ms(
        std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.heartbeat_timeout / 3)));
  }
  if (w->limits().max_message_bytes() == 0) {
    w->mutable_limits()->set_max_message_bytes(channel_.options().max_datagram_bytes);
  }
  if (w->limits().max_payload_bytes() == 0) {
    w->mutable_limits()->set_max_payload_bytes(options_.max_payload_bytes);
  }
  if (auto s = SendEnvelope(welcome_env, {}); !s.ok()) return HandshakeFailure(s);

  auto ready_env = receive("ready");
  if (!ready_env.ok()) return HandshakeFailure(ready_env.status());
  if (!ready_env->has_ready()) {
    return HandshakeFailure(ViolationStatus(ViolationKind::kUnexpectedMessage,
                                            absl::StrCat("expected ready after welcome, got ",
                                                         EnvelopeCodec::MessageName(*ready_env))));
  }
  if (ready_env->ready().has_error()) {
    const auto& e = ready_env->ready().error();
    return HandshakeFailure(
        absl::Status(absl::StatusCode::kFailedPrecondition,
                     absl::StrCat("the plugin refused its configuration: ", e.message())));
  }

  tokens_ = options_.unsolicited_burst;
  tokens_at_ = absl::Now();
  last_message_at_ = absl::Now();
  last_waiter_at_ = absl::InfinitePast();
  if (auto s = channel_.SetReceiveTimeout(kBlockingSlice); !s.ok()) return HandshakeFailure(s);
  buffers_.Enable(hello, w->limits());
  reader_ = std::thread([this] { ReaderLoop(); });
  return info;
}

bool PluginSession::ConsumeUnsolicitedToken() {
  absl::Time now = absl::Now();
  tokens_ = std::min<double>(
      options_.unsolicited_burst,
      tokens_ + absl::ToDoubleSeconds(now - tokens_at_) * options_.max_unsolicited_per_second);
  tokens_at_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

void PluginSession::ReadOnce(absl::Time deadline, bool may_block) {
  if (may_block && deadline - absl::Now() > kBlockingSlice) {
    // A caller waiting for its result: one blocking recvmsg instead of poll + recvmsg. It is
    // bounded by SO_RCVTIMEO (kBlockingSlice, so the call's own deadline is still seen in
    // time) and cut short by Fail(), which shuts the socket down.
    Consume(channel_.ReceiveBlocking());
    return;
  }
  struct pollfd pfds[2] = {{channel_.fd(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
  int timeout_ms = -1;
  if (deadline != absl::InfiniteFuture()) {
    timeout_ms = PollTimeoutMs(std::max(deadline - absl::Now(), absl::ZeroDuration()));
  }
  int r = ::poll(pfds, 2, timeout_ms);
  if (r < 0) {
    if (errno == EINTR) return;
    Fail(absl::ErrnoToStatus(errno, absl::StrCat(Label(), ": poll on channel")));
    return;
  }
  if (pfds[1].revents != 0) {
    uint64_t count;
    (void)!::read(wake_fd_.get(), &count, sizeof(count));
  }
  if (pfds[0].revents == 0) return;
  Consume(channel_.Receive(absl::InfinitePast()));
}

void PluginSession::Consume(absl::StatusOr<SeqpacketChannel::Datagram> dg) {
  if (!dg.ok()) {
    if (absl::IsDeadlineExceeded(dg.status()) && !ViolationKindOf(dg.status())) return;
    if (absl::IsUnavailable(dg.status())) {
      bool acked;
      {
        std::lock_guard<std::mutex> lock(mu_);
        acked = shutdown_acked_;
        // After Fail() shut the socket down, EOF is ours, not the plugin's.
        if (!failure_.ok()) return;
      }
      Fail(absl::UnavailableError(
          acked ? absl::StrCat(Label(), ": stopped after shutdown")
                : absl::StrCat(Label(), ": the plugin closed its channel (exited or crashed)")));
      return;
    }
    Fail(Prefixed(absl::StrCat(Label(), ": "), dg.status()));
    return;
  }
  last_message_at_ = absl::Now();
  HandleDatagram(std::move(*dg));
}

void PluginSession::ReaderLoop() {
  // Reads only while nobody waits for a call: a waiting caller reads for itself (see
  // WaitFor), which saves a thread hand-off per call. Idle, it picks up heartbeats, logs,
  // broker requests and EOF.
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stopping_ || !failure_.ok()) return;
    // Back-to-back calls should not bounce the reader role to this thread in between, and
    // waking it on every call would cost a context switch each: it naps for the idle grace
    // and is woken early only to stop.
    absl::Time idle_at = last_waiter_at_ + kIdleGrace;
    if (reading_ || waiters_ > 0 || absl::Now() < idle_at) {
      background_cv_.wait_for(lock, absl::ToChronoNanoseconds(kIdleGrace));
      continue;
    }
    reading_ = true;
    background_reading_ = true;
    lock.unlock();
    ReadAndWatch(absl::InfiniteFuture(), /*may_block=*/false);
    lock.lock();
    reading_ = false;
    background_reading_ = false;
    cv_.notify_all();
  }
}

void PluginSession::ReadAndWatch(absl::Time deadline, bool may_block) {
  const bool watching = heartbeat_armed_ && options_.heartbeat_timeout > absl::ZeroDuration();
  if (!watching) {
    ReadOnce(deadline, may_block);
    return;
  }
  ReadOnce(std::min(deadline, last_message_at_ + options_.heartbeat_timeout), may_block);
  // Judged after the read, never before it: a host that was slow to read (a loaded machine)
  // must not blame the plugin for messages that are already waiting in the socket.
  if (absl::Now() - last_message_at_ >= options_.heartbeat_timeout) {
    Fail(ViolationStatus(ViolationKind::kHeartbeatTimeout,
                         absl::StrCat(Label(), ": no heartbeat or other message for ",
                                      absl::FormatDuration(options_.heartbeat_timeout),
                                      "; the plugin is considered hung")));
  }
}

bool PluginSession::WaitFor(std::unique_lock<std::mutex>& lock, const std::function<bool()>& done,
                            absl::Time deadline) {
  ++waiters_;
  bool kicked = false;
  bool ok = true;
  while (!done()) {
    if (absl::Now() >= deadline) {
      ok = false;
      break;
    }
    if (!reading_ && failure_.ok()) {
      reading_ = true;
      lock.unlock();
      ReadAndWatch(deadline, /*may_block=*/true);
      lock.lock();
      reading_ = false;
      cv_.notify_all();
      continue;
    }
    if (background_reading_ && !kicked) {
      // The background reader sits in poll(); make it hand the role over.
      Wake();
      kicked = true;
    }
    cv_.wait_until(lock, absl::ToChronoTime(deadline));
  }
  --waiters_;
  last_waiter_at_ = absl::Now();
  cv_.notify_all();
  return ok;
}

void PluginSession::HandleDatagram(SeqpacketChannel::Datagram dg) {
  auto env = codec_.Decode(dg.bytes);
  if (!env.ok()) {
    Fail(Prefixed(absl::StrCat(Label(), ": "), env.status()));
    return;
  }
  auto unsolicited_ok = [&]() -> bool {
    if (ConsumeUnsolicitedToken()) return true;
    Fail(ViolationStatus(
        ViolationKind::kMessageFlood,
        absl::StrCat(Label(), ": more than ", options_.max_unsolicited_per_second,
                     " unsolicited messages per second (burst ", options_.unsolicited_burst,
                     "); last was ", EnvelopeCodec::MessageName(*env))));
    return false;
  };
  switch (env->msg_case()) {
    case Envelope::kCallResult: {
      const auto& result = env->call_result();
      std::shared_ptr<PendingCall> call;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = pending_.find(result.id());
        if (it != pending_.end()) {
          call = it->second;
          pending_.erase(it);
        }
      }
      if (call == nullptr) {
        Fail(ViolationStatus(ViolationKind::kUnknownCallId,
                             absl::StrCat(Label(), ": result for call id ", result.id(),
                                          " which is not outstanding")));
        return;
      }
      absl::StatusOr<Payload> out = Payload();
      if (result.has_error()) {
        out = absl::Status(SanitizeCode(result.error().code()),
                           absl::StrCat(Label(), ": method '", call->method,
                                        "' failed: ", result.error().message()));
      } else if (result.has_payload()) {
        auto p = buffers_.DecodeResult(call->result_buffer_id, result.payload(), &dg.fds);
        if (!p.ok()) {
          // Put the call back so Fail() answers it with the violation.
          {
            std::lock_guard<std::mutex> lock(mu_);
            pending_[result.id()] = call;
          }
          Fail(Prefixed(absl::StrCat(Label(), ": result of '", call->method, "': "), p.status()));
          return;
        }
        out = std::move(*p);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        call->result = std::move(out);
        call->done = true;
        call->answered = true;
      }
      cv_.notify_all();
      return;
    }
    case Envelope::kHeartbeat:
      if (unsolicited_ok()) heartbeat_armed_ = true;
      return;
    case Envelope::kLog:
      if (unsolicited_ok() && options_.on_log) options_.on_log(env->log());
      return;
    case Envelope::kBrokerRequest:
      if (!unsolicited_ok()) return;
      if (options_.on_broker_request) {
        options_.on_broker_request(env->broker_request(), std::move(dg.fds));
      } else if (env->broker_request().id() != 0) {
        // id 0 is fire-and-forget (structured logs): never answered, with or without a broker.
        Envelope r;
        r.mutable_broker_response()->set_id(env->broker_request().id());
        r.mutable_broker_response()->mutable_error()->set_code(
            static_cast<int32_t>(absl::StatusCode::kUnimplemented));
        r.mutable_broker_response()->mutable_error()->set_message(
            "this host has no broker for plugin requests");
        (void)SendEnvelope(r, {});
      }
      return;
    case Envelope::kShutdownAck: {
      bool expected;
      {
        std::lock_guard<std::mutex> lock(mu_);
        expected = draining_;
        if (expected) shutdown_acked_ = true;
      }
      if (!expected) {
        Fail(ViolationStatus(ViolationKind::kUnexpectedMessage,
                             absl::StrCat(Label(), ": shutdown_ack without a shutdown request")));
        return;
      }
      cv_.notify_all();
      return;
    }
    default:
      Fail(ViolationStatus(ViolationKind::kUnexpectedMessage,
                           absl::StrCat(Label(), ": unexpected ", EnvelopeCodec::MessageName(*env),
                                        " message after the handshake")));
      return;
  }
}

absl::StatusOr<Payload> PluginSession::Call(absl::string_view method, const Payload& input,
                                            absl::Duration timeout) {
  return CallImpl(
      method, timeout,
      [&](cordon::v1::Payload* out, std::vector<UniqueFd>* fds) {
        // Inline only what fits the channel's datagram cap with its envelope.
        return input.ToProto(
            std::min<size_t>(options_.inline_threshold, channel_.options().max_datagram_bytes / 2),
            out, fds);
      },
      nullptr, nullptr);
}

absl::StatusOr<SharedInput> PluginSession::AcquireInput(size_t size) {
  if (size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Label(), ": AcquireInput(0); send an empty Payload instead"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!reader_.joinable()) {
      return absl::FailedPreconditionError(
          absl::StrCat(Label(), ": AcquireInput() before a successful Handshake()"));
    }
    if (!failure_.ok()) return failure_;
  }
  return buffers_.AcquireInput(size);
}

absl::StatusOr<Payload> PluginSession::Call(absl::string_view method, SharedInput input,
                                            absl::Duration timeout) {
  if (!input.is_shared()) {
    if (!input.memfd_.has_value() || input.size() == 0) {
      return Call(method, Payload(), timeout);
    }
    if (auto s = input.memfd_->Shrink(input.size()); !s.ok()) return s;
    if (auto sealed = input.memfd_->Seal(); !sealed.ok()) return sealed.status();
    auto payload = Payload::FromSealedMemfd(std::move(*input.memfd_));
    input.memfd_.reset();
    if (!payload.ok()) return payload.status();
    return Call(method, *payload, timeout);
  }
  if (!buffers_.Owns(input)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Label(), ": Call('", method, "') with an input acquired from another session"));
  }
  bool answered = false;
  auto out = CallImpl(
      method, timeout,
      [&](cordon::v1::Payload* out, std::vector<UniqueFd>*) {
        auto* ref = out->mutable_shared();
        ref->set_buffer_id(input.lease_.buffer_id);
        ref->set_offset(0);
        ref->set_length(input.size());
        return absl::OkStatus();
      },
      &input, &answered);
  input.Release(/*reusable=*/answered);
  return out;
}

absl::StatusOr<Payload> PluginSession::CallImpl(
    absl::string_view method, absl::Duration timeout,
    const std::function<absl::Status(cordon::v1::Payload*, std::vector<UniqueFd>*)>& fill,
    SharedInput* shared, bool* answered) {
  auto call = std::make_shared<PendingCall>();
  call->method = std::string(method);
  // Lent before the call is registered, so that whichever thread reads the result sees it.
  SessionBuffers::ResultLoan loan = buffers_.LendResultBuffer();
  call->result_buffer_id = loan.buffer_id();
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_.ok()) {
      return absl::Status(failure_.code(),
                          absl::StrCat(failure_.message(), " (call '", method, "' not sent)"));
    }
    if (!reader_.joinable()) {
      return absl::FailedPreconditionError(
          absl::StrCat(Label(), ": Call('", method, "') before a successful Handshake()"));
    }
    if (draining_) {
      return absl::FailedPreconditionError(
          absl::StrCat(Label(), ": draining; call '", method, "' refused"));
    }
    if (pending_.size() >= options_.max_concurrent_calls) {
      return absl::ResourceExhaustedError(
          absl::StrCat(Label(), ": ", pending_.size(), " calls outstanding (limit ",
                       options_.max_concurrent_calls, "); call '", method, "' refused"));
    }
    id = next_id_++;
    pending_[id] = call;
  }
  Envelope env;
  auto* req = env.mutable_call_request();
  req->set_id(id);
  req->set_method(std::string(method));
  req->set_timeout_ms(static_cast<uint64_t>(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1))))));
  std::vector<UniqueFd> fds;
  absl::Status sent = buffers_.Announce(
      shared, &loan,
      [this](const Envelope& e, absl::Span<const int> f) { return SendEnvelope(e, f); });
  req->set_result_buffer_id(loan.buffer_id());
  if (sent.ok()) sent = fill(req->mutable_payload(), &fds);
  if (sent.ok()) {
    std::vector<int> raw;
    for (const auto& fd : fds) raw.push_back(fd.get());
    sent = SendEnvelope(env, raw);
  }
  const absl::Time deadline = absl::Now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  if (!sent.ok() && !call->done) {
    pending_.erase(id);
    return absl::Status(sent.code(),
                        absl::StrCat(Label(), ": sending call '", method, "': ", sent.message()));
  }
  loan.set_reusable(false);  // sent: the plugin may write it until its result is consumed
  if (!WaitFor(
          lock, [&] { return call->done; }, deadline)) {
    pending_.erase(id);
    lock.unlock();
    absl::Status s = ViolationStatus(
        ViolationKind::kCallDeadlineExceeded,
        absl::StrCat(Label(), ": call '", method, "' (id ", id, ") got no result within ",
                     absl::FormatDuration(timeout), "; the plugin is considered hung"));
    Fail(s);
    return s;
  }
  if (answered != nullptr) *answered = call->answered;
  loan.set_reusable(call->answered);
  return std::move(call->result);
}

absl::StatusOr<std::string> PluginSession::CallBytes(absl::string_view method,
                                                     absl::string_view input,
                                                     absl::Duration timeout) {
  auto out = Call(method, Payload(input), timeout);
  if (!out.ok()) return out.status();
  return out->ToString();
}

absl::Status PluginSession::SendBrokerResponse(const cordon::v1::BrokerResponse& response,
                                               absl::Span<const int> fds) {
  Envelope env;
  *env.mutable_broker_response() = response;
  return SendEnvelope(env, fds);
}

absl::Status PluginSession::Shutdown(absl::Duration grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_.ok()) return failure_;
    if (!reader_.joinable()) {
      return absl::FailedPreconditionError(
          absl::StrCat(Label(), ": Shutdown() before a successful Handshake()"));
    }
    draining_ = true;
  }
  Envelope env;
  env.mutable_shutdown_request()->set_grace_ms(
      static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Milliseconds(grace))));
  if (auto s = SendEnvelope(env, {}); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(Label(), ": sending shutdown: ", s.message()));
  }
  const absl::Time deadline = absl::Now() + grace;
  std::unique_lock<std::mutex> lock(mu_);
  WaitFor(
      lock, [&] { return shutdown_acked_ || !failure_.ok(); }, deadline);
  if (shutdown_acked_) return absl::OkStatus();
  if (!failure_.ok()) return failure_;
  return absl::DeadlineExceededError(
      absl::StrCat(Label(), ": no shutdown acknowledgement within ", absl::FormatDuration(grace)));
}

}  // namespace cordon::ipc
