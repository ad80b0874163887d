#include "launcher/serve/call_relay.h"

#include <sys/socket.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ipc/envelope_codec.h"
#include "launcher/broker/broker_reply.h"

namespace cordon::serve {

CallRelay::CallRelay(std::shared_ptr<PluginEntry> entry, ipc::UniqueFd fd)
    : entry_(std::move(entry)),
      channel_(std::move(fd), ipc::SeqpacketChannel::Options{kMaxChannelDatagram, 0}) {
  thread_ = std::thread([this] { Loop(); });
}

CallRelay::~CallRelay() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void CallRelay::Stop() { shutdown(channel_.fd(), SHUT_RDWR); }

void CallRelay::Loop() {
  ipc::EnvelopeLimits limits;
  limits.max_bytes = kMaxChannelDatagram;
  ipc::EnvelopeCodec codec(limits);
  for (;;) {
    absl::StatusOr<ipc::SeqpacketChannel::Datagram> dg = channel_.Receive(absl::InfiniteFuture());
    if (!dg.ok()) break;
    absl::StatusOr<cordon::v1::Envelope> in = codec.Decode(dg->bytes);
    if (!in.ok() || !in->has_call_request() || in->call_request().payload().has_memfd()) break;
    const cordon::v1::CallRequest& req = in->call_request();
    const std::string& input = req.payload().inline_();
    entry_->calls_in_flight.fetch_add(1);
    const absl::Time start = absl::Now();
    absl::StatusOr<std::string> out =
        entry_->plugin->Call(req.method(), input, absl::Milliseconds(req.timeout_ms()));
    entry_->calls_in_flight.fetch_sub(1);
    entry_->RecordCall(absl::Now() - start, input.size(), out.ok() ? out->size() : 0, out.status());
    cordon::v1::Envelope reply;
    cordon::v1::CallResult* result = reply.mutable_call_result();
    result->set_id(req.id());
    if (out.ok()) {
      result->mutable_payload()->set_inline_(std::move(*out));
    } else {
      cordon::v1::Error* e = result->mutable_error();
      // Bounded, valid UTF-8 whatever the plugin's error said (a raw message could fail the
      // client's decoding or the datagram cap).
      broker::BrokerReply::FillError(out.status(), e);
      // Same classification as the control path (see ControlServer::Call).
      const bool from_plugin = absl::StrContains(
          out.status().message(), absl::StrCat("method '", req.method(), "' failed: "));
      (*e->mutable_details())["source"] = from_plugin ? "plugin" : "sandbox";
    }
    absl::StatusOr<std::string> bytes = codec.Encode(reply);
    if (!bytes.ok()) {
      reply.mutable_call_result()->clear_payload();
      cordon::v1::Error* e = reply.mutable_call_result()->mutable_error();
      e->set_code(static_cast<int32_t>(absl::StatusCode::kResourceExhausted));
      e->set_message(
          absl::StrCat("result exceeds the channel's ", kMaxChannelDatagram, "-byte datagram cap"));
      bytes = codec.Encode(reply);
    }
    if (!bytes.ok() || !channel_.Send(*bytes).ok()) break;
  }
  // Not Close(): the fd stays valid for Stop() until the destructor; the peer sees EOF.
  shutdown(channel_.fd(), SHUT_RDWR);
  finished_.store(true);
}

}  // namespace cordon::serve
