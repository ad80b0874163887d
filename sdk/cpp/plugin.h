#ifndef CORDON_SDK_CPP_PLUGIN_H_
#define CORDON_SDK_CPP_PLUGIN_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cordon/v1/envelope.pb.h"
#include "ipc/envelope_codec.h"
#include "ipc/payload.h"
#include "ipc/seqpacket_channel.h"
#include "ipc/version_negotiator.h"
#include "sdk/cpp/output.h"
#include "sdk/cpp/shared_buffer_set.h"

namespace cordon::sdk {

// What a handler knows about the call it serves.
struct CallContext {
  uint64_t id = 0;
  std::string method;
  // The host kills the plugin when this passes; long handlers should check it.
  absl::Time deadline = absl::InfiniteFuture();
};

// Returns the result bytes (ipc::Payload converts from std::string; for large results write them
// in place into Plugin::AcquireOutput() and return Output::Finish()), or a status that reaches
// the host as a structured error with the same code.
using Handler =
    std::function<absl::StatusOr<ipc::Payload>(const CallContext&, const ipc::Payload& input)>;

// A cordon plugin: register handlers by method name, then Serve(). The SDK does the handshake
// (Hello → Welcome/Reject → Ready), dispatches calls one at a time in arrival order, sends
// heartbeats at the interval the host asks for, and stops cleanly on a shutdown request.
class Plugin {
 public:
  struct Options {
    std::string name;     // [a-z0-9][a-z0-9._-]{0,63}, as in the manifest
    std::string version;  // semantic version, as in the manifest
    ipc::VersionSpan protocol;
    std::vector<cordon::v1::Capability> requested_capabilities;
    absl::Duration handshake_timeout = absl::Seconds(30);
    // Results larger than this travel as sealed memfds.
    size_t inline_threshold = 16 * 1024;
    size_t max_datagram_bytes = 64 * 1024;
    // Data channels: offered in the Hello, so the host may hand this plugin up to this many
    // call-only sockets at once (DataChannelOpen), each held by one host client. 0: not
    // offered, every call comes through the host.
    uint32_t max_data_channels = 4;
    // Cap on one datagram on a data channel (a host client's calls, inline payloads only).
    size_t max_data_datagram_bytes = 1 << 20;
    // Shared-buffer call inputs: offered in the Hello with these caps, so a host may announce
    // up to max_shared_buffers read-only buffers (mapped once, reused across calls) and send
    // inputs as ranges of them, which the handler reads in place (valid only while it runs;
    // copy what it keeps). 0 buffers: not offered, inputs travel inline or as memfds.
    uint32_t max_shared_buffers = 8;
    uint64_t max_shared_buffer_bytes = uint64_t{256} << 20;
    // Shared result buffers: offered in the Hello with these caps, so a host may lend each call
    // one of up to max_result_buffers buffers it created (mapped read-write here on first use,
    // then reused), into which AcquireOutput() lets the handler write its result in place; the
    // host copies it out once. The pages written stay allocated, on this plugin's memory
    // account, for the rest of the session. 0 buffers: not offered, AcquireOutput() returns
    // memfds.
    uint32_t max_result_buffers = 4;
    uint64_t max_result_buffer_bytes = uint64_t{256} << 20;
  };

  explicit Plugin(Options options);
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  // Before Serve(). A second registration of the same method replaces the first.
  void Register(absl::string_view method, Handler handler);
  // Runs once with the host's Welcome (configuration, grants, limits); a non-OK status is sent
  // back as the configure failure and Serve() returns it.
  void OnConfigure(std::function<absl::Status(const cordon::v1::Welcome&)> hook);

  // Serves on the channel fd named by $CORDON_CHANNEL_FD (default 3) until the host asks for
  // shutdown (OK) or the channel fails / the host rejects the plugin (error). Calls arriving on
  // the data channels the host opens (DataChannelOpen, see envelope.proto) are served too, by
  // the same handlers, one at a time with those from the channel, until the host closes them.
  // A host message breaking the data-channel rules (an open without its fd, a reused id, over
  // max_data_channels, a close of a channel never opened) is a protocol violation: Serve()
  // returns it.
  absl::Status Serve();
  // Serves on `fd` (takes ownership).
  absl::Status ServeFd(int fd);
  // Serve() and turn the result into a process exit code (0 on clean shutdown), logging any
  // error to stderr. For main(): `return plugin.Main();`.
  int Main();

  // Sends a log line to the host. Thread-safe; only after the handshake. The message is cut
  // at 8 KiB on a UTF-8 boundary; bytes that are not UTF-8 are sent as \xNN.
  absl::Status Log(cordon::v1::LogMessage::Level level, absl::string_view message);

  // Valid after the handshake.
  const cordon::v1::Welcome& welcome() const { return welcome_; }
  // The limits the host runs this plugin under (Welcome.limits): memory, pids, CPU and wall
  // time, call and handshake timeouts, message and payload caps, concurrent calls, broker
  // rate, heartbeat interval, open files; 0 where the host sets none. Valid after the
  // handshake; for information (the host enforces them).
  const cordon::v1::PluginLimits& limits() const { return welcome_.limits(); }

  // A result of `size` bytes for the handler to write in place and return with Finish():
  // a range of the shared result buffer the host lent to this call when there is one and it
  // fits (sent as a reference the host copies out once: no page allocated per call), else a
  // memfd (sealed at Finish()). Call only from a handler (the serving thread); the output is
  // valid until the handler returns. See Output.
  absl::StatusOr<Output> AcquireOutput(size_t size) { return shared_.AcquireOutput(size); }

  // Broker requests: ask the host to do something beyond computing for this plugin. Call only
  // from a handler (the serving thread); messages that arrive meanwhile are queued and served
  // after the handler returns. The host checks each request against the plugin's grants.
  struct BrokerReply {
    cordon::v1::BrokerResponse response;
    std::vector<ipc::UniqueFd> fds;
  };
  absl::StatusOr<BrokerReply> Broker(cordon::v1::BrokerRequest request, absl::Duration timeout,
                                     const std::vector<ipc::UniqueFd>& fds = {});
  // Opens a file the plugin was granted; returns the fd the host opened.
  absl::StatusOr<ipc::UniqueFd> OpenFile(absl::string_view path,
                                         cordon::v1::OpenFileRequest::Mode mode,
                                         absl::Duration timeout = absl::Seconds(10));
  // Connects to a granted endpoint ("host:port" or "unix:/path"); returns the connected socket.
  absl::StatusOr<ipc::UniqueFd> Connect(absl::string_view endpoint,
                                        absl::Duration timeout = absl::Seconds(10));
  // Opens with write options: create (a new file only, needs fs.create, which alone suffices
  // in mode WRITE or READ_WRITE), truncate or append (need fs.write). See docs/broker.md for
  // the flags the host allows.
  struct OpenOptions {
    cordon::v1::OpenFileRequest::Mode mode = cordon::v1::OpenFileRequest::READ;
    bool create = false;
    bool truncate = false;
    bool append = false;
    absl::Duration timeout = absl::Seconds(10);
  };
  absl::StatusOr<ipc::UniqueFd> OpenFile(absl::string_view path, const OpenOptions& options);
  // Calls a host function the plugin was granted (host.call) with `input`; the host gives it
  // `deadline` (capped by the host). A host function's error comes back with its code, message
  // and details. Call only from a handler, like Broker().
  absl::StatusOr<std::string> CallHost(absl::string_view function, absl::string_view input,
                                       absl::Duration deadline = absl::Seconds(10));
  // Structured log line through the broker (needs the `log` grant; rate-limited by the host).
  // Fire-and-forget (request id 0: the host records it but sends no answer), so it may be
  // called from any thread after the handshake, as often as the handler likes. Message, keys
  // and values are cut at 8 KiB on a UTF-8 boundary; bytes that are not UTF-8 go as \xNN.
  absl::Status Log(cordon::v1::LogMessage::Level level, absl::string_view message,
                   const std::map<std::string, std::string>& fields);

 private:
  absl::Status Send(const cordon::v1::Envelope& envelope, const std::vector<ipc::UniqueFd>& fds);
  absl::Status Handshake();
  absl::Status Loop();
  // Payloads up to this size go inline: options_.inline_threshold, lowered to half the
  // datagram cap the host announced in Welcome.
  size_t InlineThreshold() const;
  // Waits for a datagram on the channel or a data channel: nullopt for the channel, else the
  // id of a data channel that has one.
  absl::StatusOr<std::optional<uint64_t>> WaitAny();
  // Serves one datagram from data channel `id`; stops serving it (the slot stays taken until
  // the host closes it) when it fails or carries anything but an inline call request.
  void ServeDataChannel(uint64_t id);
  // DataChannelOpen / DataChannelClose from the host; a violation ends Serve().
  absl::Status OpenDataChannel(const cordon::v1::DataChannelOpen& open,
                               std::vector<ipc::UniqueFd> fds);
  absl::Status CloseDataChannel(const cordon::v1::DataChannelClose& close);
  // Runs the handler; with `data_id` answers on that data channel (inline result, no fds).
  void HandleCall(const cordon::v1::CallRequest& request, std::vector<ipc::UniqueFd> fds,
                  std::optional<uint64_t> data_id = std::nullopt);
  void HeartbeatLoop(absl::Duration interval);
  // Logs (to stderr and the host) a refused buffer announcement.
  void LogRefused(absl::string_view what, uint64_t id, const absl::Status& why);

  Options options_;
  ipc::EnvelopeCodec codec_;
  std::map<std::string, Handler> handlers_;
  std::function<absl::Status(const cordon::v1::Welcome&)> configure_;
  std::unique_ptr<ipc::SeqpacketChannel> channel_;
  ipc::EnvelopeCodec data_codec_;
  // Data channels the host opened and has not closed, by id (serving thread only); null: no
  // longer served (its peer failed) but still counted until the host closes it.
  std::map<uint64_t, std::unique_ptr<ipc::SeqpacketChannel>> data_channels_;
  uint64_t last_data_channel_id_ = 0;  // ids only ever increase
  cordon::v1::Welcome welcome_;
  // Announced shared input and result buffers (serving thread only).
  SharedBufferSet shared_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;

  // Serving-thread state for Broker(): messages that arrived while a handler waited.
  struct Deferred {
    cordon::v1::Envelope envelope;
    std::vector<ipc::UniqueFd> fds;
  };
  std::deque<Deferred> deferred_;
  uint64_t next_broker_id_ = 1;
};

}  // namespace cordon::sdk

#endif  // CORDON_SDK_CPP_PLUGIN_H_
