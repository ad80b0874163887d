#include "sdk/cpp/plugin.h"

#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ipc/protocol_violation.h"
#include "ipc/utf8_text.h"

namespace cordon::sdk {

using cordon::v1::Envelope;

namespace {

constexpr char kSdkId[] = "cordon-sdk-cpp/0.1.0";

// Log lines and error messages are cut here (the host refuses longer ones). The text must
// also be valid UTF-8, cut on a sequence boundary: the host refuses a message with a proto3
// string that is not, as malformed, and kills the plugin.
constexpr size_t kMaxTextBytes = 8 * 1024;

void SetError(const absl::Status& s, cordon::v1::Error* e) {
  e->set_code(static_cast<int32_t>(s.code()));
  // Keep the error well inside one datagram whatever the handler put in it.
  e->set_message(ipc::ToProtoText(s.message(), kMaxTextBytes));
}

}  // namespace

Plugin::Plugin(Options options)
    : options_(std::move(options)),
      codec_([&] {
        ipc::EnvelopeLimits l;
        l.max_bytes = options_.max_datagram_bytes;
        return l;
      }()),
      data_codec_([&] {
        ipc::EnvelopeLimits l;
        l.max_bytes = options_.max_data_datagram_bytes;
        return l;
      }()),
      shared_(SharedBufferSet::Caps{options_.max_shared_buffers, options_.max_shared_buffer_bytes,
                                    options_.max_result_buffers,
                                    options_.max_result_buffer_bytes}) {}

Plugin::~Plugin() = default;

void Plugin::Register(absl::string_view method, Handler handler) {
  handlers_[std::string(method)] = std::move(handler);
}

void Plugin::OnConfigure(std::function<absl::Status(const cordon::v1::Welcome&)> hook) {
  configure_ = std::move(hook);
}

absl::Status Plugin::Serve() {
  int fd = 3;
  if (const char* env = std::getenv("CORDON_CHANNEL_FD"); env != nullptr && *env != '\0') {
    if (!absl::SimpleAtoi(env, &fd) || fd < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("CORDON_CHANNEL_FD='", env, "' is not a file descriptor number"));
    }
  }
  // A host from before DataChannelOpen passed one shared data channel as fd 4; this SDK does
  // not serve it (any earlier holder could keep using it), so it is closed: that host then
  // serves every call through itself.
  if (const char* env = std::getenv("CORDON_DATA_FD"); env != nullptr && *env != '\0') {
    int data_fd = -1;
    if (absl::SimpleAtoi(env, &data_fd) && data_fd > 2 && data_fd != fd) (void)::close(data_fd);
  }
  return ServeFd(fd);
}

int Plugin::Main() {
  absl::Status s = Serve();
  if (s.ok()) return 0;
  std::fprintf(stderr, "%s %s: %s\n", options_.name.c_str(), options_.version.c_str(),
               s.ToString().c_str());
  return 1;
}

absl::Status Plugin::Send(const Envelope& env, const std::vector<ipc::UniqueFd>& fds) {
  auto bytes = codec_.Encode(env);
  if (!bytes.ok()) return bytes.status();
  std::vector<int> raw;
  raw.reserve(fds.size());
  for (const auto& fd : fds) raw.push_back(fd.get());
  return channel_->Send(*bytes, raw);
}

absl::Status Plugin::Log(cordon::v1::LogMessage::Level level, absl::string_view message) {
  if (channel_ == nullptr) return absl::FailedPreconditionError("Log() before Serve()");
  Envelope env;
  env.mutable_log()->set_level(level);
  env.mutable_log()->set_message(ipc::ToProtoText(message, kMaxTextBytes));
  return Send(env, {});
}

absl::Status Plugin::ServeFd(int fd) {
  // Inherited from the launcher without close-on-exec (that is how it crossed exec): a
  // process a handler starts must not get the channel.
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("setting close-on-exec on fd ", fd));
  }
  ipc::SeqpacketChannel::Options copts;
  copts.max_datagram_bytes = options_.max_datagram_bytes;
  channel_ = std::make_unique<ipc::SeqpacketChannel>(ipc::UniqueFd(fd), copts);
  if (auto s = Handshake(); !s.ok()) return s;
  std::thread heartbeat;
  if (welcome_.limits().heartbeat_interval_ms() > 0) {
    absl::Duration interval = absl::Milliseconds(welcome_.limits().heartbeat_interval_ms());
    heartbeat = std::thread([this, interval] { HeartbeatLoop(interval); });
  }
  absl::Status s = Loop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (heartbeat.joinable()) heartbeat.join();
  return s;
}

absl::Status Plugin::Handshake() {
  Envelope hello_env;
  auto* hello = hello_env.mutable_hello();
  hello->mutable_protocol()->set_min(options_.protocol.min);
  hello->mutable_protocol()->set_max(options_.protocol.max);
  hello->set_name(options_.name);
  hello->set_version(options_.version);
  hello->set_sdk(kSdkId);
  for (const auto& [name, handler] : handlers_) hello->add_methods(name);
  for (const auto& c : options_.requested_capabilities) *hello->add_requested_capabilities() = c;
  shared_.OfferIn(hello);
  if (options_.max_data_channels > 0) {
    hello->mutable_data_channels()->set_max_open(options_.max_data_channels);
  }
  if (auto s = Send(hello_env, {}); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("sending hello: ", s.message()));
  }
  auto dg = channel_->Receive(absl::Now() + options_.handshake_timeout);
  if (!dg.ok()) {
    return absl::Status(dg.status().code(),
                        absl::StrCat("waiting for the host's welcome: ", dg.status().message()));
  }
  auto env = codec_.Decode(dg->bytes);
  if (!env.ok()) return env.status();
  if (env->has_reject()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the host rejected this plugin: ", env->reject().reason(), " (host protocol [",
        env->reject().host_protocol().min(), ", ", env->reject().host_protocol().max(), "])"));
  }
  if (!env->has_welcome()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected welcome or reject, got ", ipc::EnvelopeCodec::MessageName(*env)));
  }
  welcome_ = env->welcome();
  Envelope ready;
  ready.mutable_ready();
  absl::Status configured = absl::OkStatus();
  if (configure_) configured = configure_(welcome_);
  if (!configured.ok()) SetError(configured, ready.mutable_ready()->mutable_error());
  if (auto s = Send(ready, {}); !s.ok()) return s;
  return configured;
}

void Plugin::HeartbeatLoop(absl::Duration interval) {
  // The first beat goes out at once: it arms the host's watchdog (docs/protocol.md,
  // "Heartbeats"), which from then on expects one at least every few intervals.
  uint64_t seq = 0;
  absl::Time next = absl::Now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (absl::Now() < next) {
      cv_.wait_until(lock, absl::ToChronoTime(next));
      continue;
    }
    Envelope env;
    env.mutable_heartbeat()->set_seq(++seq);
    lock.unlock();
    // A failed send means the channel is gone; the main loop sees that too and returns.
    (void)Send(env, {});
    lock.lock();
    next = absl::Now() + interval;
  }
}

absl::Status Plugin::Loop() {
  for (;;) {
    Envelope env;
    std::vector<ipc::UniqueFd> fds;
    if (!deferred_.empty()) {
      env = std::move(deferred_.front().envelope);
      fds = std::move(deferred_.front().fds);
      deferred_.pop_front();
    } else {
      if (!data_channels_.empty()) {
        absl::StatusOr<std::optional<uint64_t>> data = WaitAny();
        if (!data.ok()) return data.status();
        if (data->has_value()) {
          ServeDataChannel(**data);
          continue;
        }
      }
      auto dg = channel_->Receive(absl::InfiniteFuture());
      if (!dg.ok()) {
        if (absl::IsUnavailable(dg.status())) {
          return absl::UnavailableError("the host closed the channel without a shutdown request");
        }
        return dg.status();
      }
      auto decoded = codec_.Decode(dg->bytes);
      if (!decoded.ok()) return decoded.status();
      env = std::move(*decoded);
      fds = std::move(dg->fds);
    }
    switch (env.msg_case()) {
      case Envelope::kCallRequest:
        HandleCall(env.call_request(), std::move(fds));
        break;
      case Envelope::kSharedBufferAnnounce:
        if (auto s = shared_.AcceptInput(env.shared_buffer_announce(), &fds); !s.ok()) {
          LogRefused("shared input buffer", env.shared_buffer_announce().buffer_id(), s);
        }
        break;
      case Envelope::kResultBufferAnnounce:
        if (auto s = shared_.AcceptResult(env.result_buffer_announce(), &fds); !s.ok()) {
          LogRefused("shared result buffer", env.result_buffer_announce().buffer_id(), s);
        }
        break;
      case Envelope::kDataChannelOpen:
        if (auto s = OpenDataChannel(env.data_channel_open(), std::move(fds)); !s.ok()) return s;
        break;
      case Envelope::kDataChannelClose:
        if (auto s = CloseDataChannel(env.data_channel_close()); !s.ok()) return s;
        break;
      case Envelope::kShutdownRequest: {
        // Calls are served in order, so everything sent before the request is answered.
        Envelope ack;
        ack.mutable_shutdown_ack();
        return Send(ack, {});
      }
      case Envelope::kHeartbeat:
      case Envelope::kBrokerResponse:  // a late answer to a Broker() call that timed out
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected ", ipc::EnvelopeCodec::MessageName(env), " from the host"));
    }
  }
}

absl::StatusOr<std::optional<uint64_t>> Plugin::WaitAny() {
  // At most 1 + kMaxDataChannels (host cap) or max_data_channels entries: small.
  std::vector<struct pollfd> fds;
  std::vector<uint64_t> ids;
  fds.push_back({channel_->fd(), POLLIN, 0});
  for (const auto& [id, channel] : data_channels_) {
    if (channel == nullptr) continue;
    fds.push_back({channel->fd(), POLLIN, 0});
    ids.push_back(id);
  }
  for (;;) {
    int r = ::poll(fds.data(), fds.size(), -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return absl::ErrnoToStatus(errno, "poll on the channels");
    // The channel first: a shutdown request there must not wait behind a flood of calls.
    if (fds[0].revents != 0) return std::optional<uint64_t>();
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0) return std::optional<uint64_t>(ids[i - 1]);
    }
  }
}

void Plugin::ServeDataChannel(uint64_t id) {
  auto it = data_channels_.find(id);
  if (it == data_channels_.end() || it->second == nullptr) return;
  auto dg = it->second->Receive(absl::InfinitePast());
  if (!dg.ok()) {
    if (absl::IsDeadlineExceeded(dg.status())) return;  // woken without a datagram
    // The holder went away (or sent something oversized): fd 3 keeps serving.
    it->second.reset();
    return;
  }
  auto env = data_codec_.Decode(dg->bytes);
  if (!env.ok() || !env->has_call_request() || env->call_request().payload().has_memfd() ||
      env->call_request().payload().has_shared()) {
    it->second.reset();
    return;
  }
  HandleCall(env->call_request(), {}, id);
}

absl::Status Plugin::OpenDataChannel(const cordon::v1::DataChannelOpen& open,
                                     std::vector<ipc::UniqueFd> fds) {
  const uint64_t id = open.channel_id();
  auto violation = [&](absl::string_view why) {
    return ipc::ViolationStatus(ipc::ViolationKind::kUnexpectedMessage,
                                absl::StrCat("data_channel_open ", id, " from the host: ", why));
  };
  if (options_.max_data_channels == 0) return violation("this plugin offered no data channels");
  if (fds.size() != 1 || !fds[0].valid()) {
    return violation(absl::StrCat("carries ", fds.size(), " fds instead of one socket"));
  }
  if (id <= last_data_channel_id_) {
    return violation(absl::StrCat("id not above the last one (", last_data_channel_id_, ")"));
  }
  if (data_channels_.size() >= options_.max_data_channels) {
    return violation(absl::StrCat("already ", data_channels_.size(), " open (the cap offered)"));
  }
  last_data_channel_id_ = id;
  ipc::SeqpacketChannel::Options dopts;
  dopts.max_datagram_bytes = options_.max_data_datagram_bytes;
  dopts.max_fds = 0;  // the peer passes no fds here; any it sends fail the datagram
  // A client that stops reading must not stall the serving thread (and with it fd 3): a
  // result that cannot be sent within this stops serving that data channel.
  dopts.send_timeout = absl::Seconds(2);
  data_channels_[id] = std::make_unique<ipc::SeqpacketChannel>(std::move(fds[0]), dopts);
  return absl::OkStatus();
}

absl::Status Plugin::CloseDataChannel(const cordon::v1::DataChannelClose& close) {
  // Erasing closes this end: the holder reads EOF and its sends fail.
  if (data_channels_.erase(close.channel_id()) == 0) {
    return ipc::ViolationStatus(ipc::ViolationKind::kUnexpectedMessage,
                                absl::StrCat("data_channel_close ", close.channel_id(),
                                             " from the host names no open data channel"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Plugin::BrokerReply> Plugin::Broker(cordon::v1::BrokerRequest request,
                                                   absl::Duration timeout,
                                                   const std::vector<ipc::UniqueFd>& fds) {
  if (channel_ == nullptr) return absl::FailedPreconditionError("Broker() outside Serve()");
  // The host is trusted, but a bound keeps a confused one from growing this without limit.
  constexpr size_t kMaxDeferred = 4096;
  const uint64_t id = next_broker_id_++;
  request.set_id(id);
  Envelope env;
  *env.mutable_broker_request() = std::move(request);
  if (auto s = Send(env, fds); !s.ok()) return s;
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    auto dg = channel_->Receive(deadline);
    if (!dg.ok()) return dg.status();
    auto decoded = codec_.Decode(dg->bytes);
    if (!decoded.ok()) return decoded.status();
    if (decoded->has_broker_response() && decoded->broker_response().id() == id) {
      BrokerReply reply;
      reply.response = std::move(*decoded->mutable_broker_response());
      reply.fds = std::move(dg->fds);
      if (reply.response.has_error()) {
        const auto& e = reply.response.error();
        int code = e.code();
        if (code <= 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) code = 2;
        return absl::Status(static_cast<absl::StatusCode>(code),
                            absl::StrCat("broker refused: ", e.message()));
      }
      return reply;
    }
    if (deferred_.size() >= kMaxDeferred) {
      return absl::ResourceExhaustedError("too many host messages while waiting for the broker");
    }
    deferred_.push_back(Deferred{std::move(*decoded), std::move(dg->fds)});
  }
}

absl::StatusOr<ipc::UniqueFd> Plugin::OpenFile(absl::string_view path,
                                               cordon::v1::OpenFileRequest::Mode mode,
                                               absl::Duration timeout) {
  cordon::v1::BrokerRequest req;
  req.mutable_open_file()->set_path(std::string(path));
  req.mutable_open_file()->set_mode(mode);
  auto reply = Broker(std::move(req), timeout);
  if (!reply.ok()) return reply.status();
  uint32_t index = reply->response.open_file().fd_index();
  if (!reply->response.has_open_file() || index >= reply->fds.size()) {
    return absl::InternalError("broker answered open_file without an fd");
  }
  return std::move(reply->fds[index]);
}

absl::StatusOr<ipc::UniqueFd> Plugin::Connect(absl::string_view endpoint, absl::Duration timeout) {
  cordon::v1::BrokerRequest req;
  req.mutable_connect()->set_endpoint(std::string(endpoint));
  auto reply = Broker(std::move(req), timeout);
  if (!reply.ok()) return reply.status();
  uint32_t index = reply->response.connect().fd_index();
  if (!reply->response.has_connect() || index >= reply->fds.size()) {
    return absl::InternalError("broker answered connect without an fd");
  }
  return std::move(reply->fds[index]);
}

void Plugin::LogRefused(absl::string_view what, uint64_t id, const absl::Status& why) {
  // The host is trusted, but a confused one must not make this plugin map without bound; a
  // refused input buffer fails only the calls that name it, a refused result buffer only
  // sends results as memfds.
  std::string msg = absl::StrCat("refused ", what, " ", id, ": ", why.message());
  std::fprintf(stderr, "%s: %s\n", options_.name.c_str(), msg.c_str());
  (void)Log(cordon::v1::LogMessage::WARNING, msg);
}

void Plugin::HandleCall(const cordon::v1::CallRequest& request, std::vector<ipc::UniqueFd> fds,
                        std::optional<uint64_t> data_id) {
  const bool data = data_id.has_value();
  // A data-channel caller is a host client: it may not lend (or make this plugin write) the
  // host's result buffers. The lend ends once the result is sent (or dropped).
  shared_.BeginCall(data ? 0 : request.result_buffer_id());
  absl::Cleanup end_call = [this] { shared_.EndCall(); };
  CallContext ctx;
  ctx.id = request.id();
  ctx.method = request.method();
  ctx.deadline = request.timeout_ms() > 0 ? absl::Now() + absl::Milliseconds(request.timeout_ms())
                                          : absl::InfiniteFuture();
  Envelope reply;
  auto* result = reply.mutable_call_result();
  result->set_id(request.id());
  std::vector<ipc::UniqueFd> out_fds;
  absl::StatusOr<ipc::Payload> out = absl::UnknownError("handler did not run");
  auto it = handlers_.find(request.method());
  if (it == handlers_.end()) {
    out = absl::UnimplementedError(
        absl::StrCat("plugin ", options_.name, " has no method '", request.method(), "'"));
  } else {
    uint64_t cap = welcome_.limits().max_payload_bytes();
    if (cap == 0) cap = uint64_t{1} << 30;
    auto input = request.payload().has_shared()
                     ? shared_.ResolveInput(request.payload().shared())
                     : ipc::Payload::FromProto(request.payload(), &fds, cap);
    if (!input.ok()) {
      out = input.status();
    } else {
      try {
        out = it->second(ctx, *input);
      } catch (const std::exception& e) {
        // A throwing handler fails its call, not the plugin.
        out = absl::InternalError(absl::StrCat("handler threw: ", e.what()));
      } catch (...) {
        out = absl::InternalError("handler threw a non-std exception");
      }
    }
  }
  // A data-channel peer takes no fds: results travel inline there, within its datagram cap.
  const size_t threshold = InlineThreshold();
  if (out.ok() && data) {
    // Over the cap fails at Encode below, with a clear error to the caller.
    result->mutable_payload()->set_inline_(std::string(out->data()));
  } else if (out.ok()) {
    // A large result the handler wrote into the lent buffer goes as a reference to it.
    absl::Status s = absl::OkStatus();
    if (out->size() <= threshold || !shared_.ToSharedRef(*out, result->mutable_payload())) {
      s = out->ToProto(threshold, result->mutable_payload(), &out_fds);
    }
    if (!s.ok()) {
      out_fds.clear();
      SetError(s, result->mutable_error());
    }
  } else {
    SetError(out.status(), result->mutable_error());
  }
  if (data) {
    auto bytes = data_codec_.Encode(reply);
    if (!bytes.ok()) {
      result->clear_payload();
      SetError(absl::ResourceExhaustedError(absl::StrCat("result exceeds the data channel's ",
                                                         options_.max_data_datagram_bytes,
                                                         "-byte datagram cap")),
               result->mutable_error());
      bytes = data_codec_.Encode(reply);
    }
    // A handler's Broker() call defers host messages, so the channel is still open here.
    auto it = data_channels_.find(*data_id);
    if (it == data_channels_.end() || it->second == nullptr) return;
    if (!bytes.ok() || !it->second->Send(*bytes).ok()) it->second.reset();
    return;
  }
  if (absl::Status s = Send(reply, out_fds); !s.ok()) {
    std::fprintf(stderr, "%s: sending result of call %llu failed: %s\n", options_.name.c_str(),
                 static_cast<unsigned long long>(request.id()), s.ToString().c_str());
  }
}

absl::StatusOr<ipc::UniqueFd> Plugin::OpenFile(absl::string_view path, const OpenOptions& options) {
  cordon::v1::BrokerRequest req;
  req.mutable_open_file()->set_path(std::string(path));
  req.mutable_open_file()->set_mode(options.mode);
  req.mutable_open_file()->set_create(options.create);
  req.mutable_open_file()->set_truncate(options.truncate);
  req.mutable_open_file()->set_append(options.append);
  auto reply = Broker(std::move(req), options.timeout);
  if (!reply.ok()) return reply.status();
  uint32_t index = reply->response.open_file().fd_index();
  if (!reply->response.has_open_file() || index >= reply->fds.size()) {
    return absl::InternalError("broker answered open_file without an fd");
  }
  return std::move(reply->fds[index]);
}

size_t Plugin::InlineThreshold() const {
  // A host announcing a smaller datagram cap (Welcome.limits.max_message_bytes) gets payloads
  // above half of it as memfds, so an inline payload always fits with its envelope.
  size_t threshold = options_.inline_threshold;
  if (uint64_t cap = welcome_.limits().max_message_bytes(); cap > 0) {
    threshold = std::min<size_t>(threshold, cap / 2);
  }
  return threshold;
}

absl::StatusOr<std::string> Plugin::CallHost(absl::string_view function, absl::string_view input,
                                             absl::Duration deadline) {
  cordon::v1::BrokerRequest req;
  req.mutable_host_call()->set_function(std::string(function));
  req.mutable_host_call()->set_timeout_ms(
      static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline))));
  std::vector<ipc::UniqueFd> fds;
  if (auto s = ipc::Payload(input).ToProto(InlineThreshold(),
                                           req.mutable_host_call()->mutable_payload(), &fds);
      !s.ok()) {
    return s;
  }
  // The host answers after the function's deadline at the latest; allow for the trip.
  auto reply = Broker(std::move(req), deadline + absl::Seconds(5), fds);
  if (!reply.ok()) return reply.status();
  if (!reply->response.has_host_call()) {
    return absl::InternalError("broker answered host_call without a result");
  }
  uint64_t cap = welcome_.limits().max_payload_bytes();
  if (cap == 0) cap = uint64_t{1} << 30;
  auto out = ipc::Payload::FromProto(reply->response.host_call().payload(), &reply->fds, cap);
  if (!out.ok()) return out.status();
  return out->ToString();
}

absl::Status Plugin::Log(cordon::v1::LogMessage::Level level, absl::string_view message,
                         const std::map<std::string, std::string>& fields) {
  if (channel_ == nullptr) return absl::FailedPreconditionError("Log() before Serve()");
  Envelope env;
  // id 0: fire-and-forget. The host sends no answer (docs/protocol.md), so a handler may log
  // any number of lines while it computes without answers piling up unread in the channel;
  // Loop() and Broker() still drop the answers an older host sends. Usable from any thread.
  auto* log = env.mutable_broker_request()->mutable_log();
  log->set_level(level);
  log->set_message(ipc::ToProtoText(message, kMaxTextBytes));
  for (const auto& [key, value] : fields) {
    (*log->mutable_fields())[ipc::ToProtoText(key, kMaxTextBytes)] =
        ipc::ToProtoText(value, kMaxTextBytes);
  }
  return Send(env, {});
}

}  // namespace cordon::sdk
