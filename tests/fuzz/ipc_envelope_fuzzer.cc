// libFuzzer target: envelope decoding and host-side session dispatch.
//
// Input: a sequence of datagrams, each a little-endian u16 length followed by that many bytes.
// The first datagram is also fed to EnvelopeCodec::Decode on its own. Then a PluginSession
// completes a handshake with a well-behaved Hello/Ready (opting in to shared results), one call
// (id 1) is made and lent result buffer 1 (64 KiB), and once its request is out every datagram
// is delivered as if the plugin had sent it, so that results for call id 1 are matched and
// shared references in them reach the reference checks and the copy. The session must end
// healthy or with an error status; never crash, leak fds or hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cordon/v1/envelope.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "ipc/envelope_codec.h"
#include "ipc/plugin_session.h"
#include "ipc/seqpacket_channel.h"

namespace {

using cordon::ipc::EnvelopeCodec;
using cordon::ipc::PluginSession;
using cordon::ipc::SeqpacketChannel;
using cordon::v1::Envelope;

std::vector<std::string> Split(const uint8_t* data, size_t size) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i + 2 <= size && out.size() < 64) {
    size_t len = data[i] | (size_t{data[i + 1]} << 8);
    i += 2;
    len = std::min(len, size - i);
    out.emplace_back(reinterpret_cast<const char*>(data + i), len);
    i += len;
  }
  return out;
}

std::string Encoded(const Envelope& e) { return e.SerializeAsString(); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs every invalid UTF-8 string it rejects; the rejection is what we test.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> datagrams = Split(data, size);
  EnvelopeCodec codec;
  if (!datagrams.empty()) (void)codec.Decode(datagrams[0]);
  (void)codec.Decode(std::string(reinterpret_cast<const char*>(data), size));

  auto fds = SeqpacketChannel::SocketPair();
  if (!fds.ok()) return 0;
  SeqpacketChannel peer(std::move(fds->second));
  Envelope hello;
  hello.mutable_hello()->mutable_protocol()->set_min(1);
  hello.mutable_hello()->mutable_protocol()->set_max(1);
  hello.mutable_hello()->set_name("fuzz");
  hello.mutable_hello()->set_version("1.0.0");
  hello.mutable_hello()->mutable_shared_result()->set_max_buffers(1);
  hello.mutable_hello()->mutable_shared_result()->set_max_buffer_bytes(64 * 1024);
  Envelope ready;
  ready.mutable_ready();
  // Queued before the session reads, so the handshake needs no second thread on this side.
  if (!peer.Send(Encoded(hello)).ok() || !peer.Send(Encoded(ready)).ok()) return 0;

  PluginSession::Options options;
  options.plugin_label = "plugin fuzz";
  PluginSession session(std::move(fds->first), options);
  cordon::ipc::HandshakeParams params;
  params.timeout = absl::Seconds(5);
  if (!session.Handshake(params).ok()) return 0;
  // Returns as soon as the session fails (EOF at the latest) or id 1 is answered.
  std::thread caller([&] { (void)session.CallBytes("m", "x", absl::Seconds(10)); });
  // The call is outstanding once its request arrives (after the welcome and the buffer's
  // announcement, whose fd is dropped here).
  for (;;) {
    auto dg = peer.Receive(absl::Now() + absl::Seconds(10));
    if (!dg.ok()) break;
    auto env = codec.Decode(dg->bytes);
    if (env.ok() && env->has_call_request()) break;
  }
  for (const auto& d : datagrams) {
    if (d.size() > 60 * 1024 || !peer.Send(d).ok()) break;
  }
  peer.Close();  // EOF after the last datagram: the session always ends
  caller.join();
  return 0;
}
