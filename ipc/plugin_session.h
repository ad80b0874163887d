#ifndef CORDON_IPC_PLUGIN_SESSION_H_
#define CORDON_IPC_PLUGIN_SESSION_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cordon/v1/envelope.pb.h"
#include "ipc/envelope_codec.h"
#include "ipc/payload.h"
#include "ipc/protocol_violation.h"
#include "ipc/seqpacket_channel.h"
#include "ipc/session_buffers.h"
#include "ipc/shared_input.h"
#include "ipc/shared_input_pool.h"
#include "ipc/shared_result_pool.h"
#include "ipc/unique_fd.h"
#include "ipc/version_negotiator.h"

namespace cordon::ipc {

// What the plugin announced in its Hello, plus the version chosen for it.
struct PluginInfo {
  std::string name;
  std::string version;
  std::string sdk;
  VersionSpan protocol;
  uint32_t protocol_version = 0;
  std::vector<std::string> methods;
  std::vector<cordon::v1::Capability> requested_capabilities;
  // The plugin's opt-in to shared-buffer inputs (Hello.shared_input) and its caps.
  bool shared_input = false;
  cordon::v1::SharedInputSupport shared_input_caps;
  // The plugin's opt-in to shared result buffers (Hello.shared_result) and its caps.
  bool shared_result = false;
  cordon::v1::SharedResultSupport shared_result_caps;
  // How many data channels the plugin serves at once (Hello.data_channels, capped at
  // kMaxDataChannels); 0: it serves none, the host never sends it DataChannelOpen.
  uint32_t max_data_channels = 0;
};

// Cap on the data channels one plugin may ask to hold at once: each is a socket in the plugin.
inline constexpr uint32_t kMaxDataChannels = 16;

struct HandshakeParams {
  VersionSpan host_versions;
  // The range the plugin's manifest declares, when there is one: the version is then chosen
  // within host_versions ∩ manifest_versions ∩ the Hello's range, and a mismatch names all
  // three, so a plugin never runs a version its manifest does not claim.
  std::optional<VersionSpan> manifest_versions;
  std::string config;
  std::map<std::string, std::string> config_map;
  std::vector<cordon::v1::Capability> granted_capabilities;
  cordon::v1::PluginLimits limits;
  // Covers Hello, Welcome/Reject and Ready. Passing it is a handshake_timeout violation.
  absl::Duration timeout = absl::Seconds(5);
  // Optional check of the Hello after version negotiation (e.g. the plugin's name against its
  // manifest). A non-OK status rejects the plugin with that message as the reason.
  std::function<absl::Status(const PluginInfo&)> accept;
};

// Host side of the plugin protocol over an already-connected channel. After Handshake(), one
// thread at a time receives: a caller waiting for its result (saving a thread hand-off per
// call), or a background thread while no call is outstanding. The receiver matches results to
// calls by id, counts heartbeats, forwards logs and broker requests, and turns anything hostile
// into a ProtocolViolation. Any violation fails the
// session for good: every pending and later call returns an error naming the plugin and the
// reason, on_violation runs once, and the caller (the launcher) kills the plugin. Call() is
// thread-safe. Callbacks run on whichever thread is receiving (a calling thread or the
// background thread); they must be quick and must not call back into or destroy the session.
class PluginSession {
 public:
  struct Options {
    // Names the plugin in every error ("echo 1.0.0 (pid 1234)").
    std::string plugin_label = "plugin";
    SeqpacketChannel::Options channel;
    EnvelopeLimits envelope;
    // Cap on one payload (inline or memfd) the plugin sends back.
    uint64_t max_payload_bytes = uint64_t{1} << 30;
    // Call inputs larger than this travel as sealed memfds.
    size_t inline_threshold = 16 * 1024;
    size_t max_concurrent_calls = 64;
    // Shared input buffers (AcquireInput), used with plugins that opt in; the plugin's own caps
    // from its Hello lower these. max_buffers = 0: never used (always the memfd path).
    SharedInputPool::Options shared_inputs;
    // Shared result buffers, lent to the calls of a plugin that opts in so that it writes large
    // results in place; the host copies each result out once and Call() returns that copy. The
    // plugin's caps, the payload caps and the memory limit in HandshakeParams.limits lower
    // buffer_bytes. max_buffers = 0: never lent (results come inline or as sealed memfds).
    // shared_results.danger_unstable_result_views returns views instead of copies (read its
    // comment first).
    SharedResultPool::Options shared_results;
    // Unsolicited messages (heartbeat, log, broker request): sustained rate and burst.
    uint32_t max_unsolicited_per_second = 500;
    uint32_t unsolicited_burst = 1000;
    // 0: off. Otherwise, once the plugin has sent its first Heartbeat, silence (no message of
    // any kind) longer than this is a heartbeat_timeout violation, while idle and during calls
    // alike. Armed by the first Heartbeat, so a plugin that cannot send them (a single-threaded
    // SDK) is bounded by its call deadlines only. Welcome asks for a heartbeat every third of
    // it unless HandshakeParams.limits sets heartbeat_interval_ms.
    absl::Duration heartbeat_timeout = absl::ZeroDuration();
    // A plugin that leaves the host's messages unread this long while its queue is full
    // (hundreds of messages: far more than the concurrent-call cap can queue) is flooding or
    // hung: a message_flood violation. Overrides channel.send_timeout.
    absl::Duration send_timeout = absl::Seconds(2);
    std::function<void(const ProtocolViolation&)> on_violation;
    std::function<void(const cordon::v1::LogMessage&)> on_log;
    // Broker requests; answer with SendBrokerResponse(). Unset: answered UNIMPLEMENTED.
    std::function<void(const cordon::v1::BrokerRequest&, std::vector<UniqueFd> fds)>
        on_broker_request;
  };

  PluginSession(UniqueFd channel, Options options);
  ~PluginSession();
  PluginSession(const PluginSession&) = delete;
  PluginSession& operator=(const PluginSession&) = delete;

  // probe + configure: Hello → Welcome (or Reject) → Ready. Call once.
  absl::StatusOr<PluginInfo> Handshake(const HandshakeParams& params);

  // One call. Exceeding `timeout` is a call_deadline_exceeded violation (the plugin is hung).
  // A structured error from the plugin comes back as a status with the plugin's code and a
  // message naming the plugin and the method; the session stays healthy. A result the plugin
  // wrote in the shared result buffer lent to the call comes back as the host's private copy
  // (Payload::is_owned_view(); its block is reused once the payload is dropped), or with
  // Options::shared_results.danger_unstable_result_views a view of the buffer itself.
  absl::StatusOr<Payload> Call(absl::string_view method, const Payload& input,
                               absl::Duration timeout);
  absl::StatusOr<std::string> CallBytes(absl::string_view method, absl::string_view input,
                                        absl::Duration timeout);

  // A writable input of `size` bytes for one call, to fill in place and pass to Call() below.
  // A shared buffer leased from this session's pool when the plugin opted in and one is free
  // (announced to the plugin once, then reused), else a writable memfd (sealed at the call).
  // After Handshake(). Thread-safe; hold one per in-flight call.
  absl::StatusOr<SharedInput> AcquireInput(size_t size);
  // Calls with `input` (from AcquireInput of this session). A shared buffer goes back to the
  // pool when the plugin answered; on a timeout or any failure it is retired, never rewritten
  // while the plugin might still read it.
  absl::StatusOr<Payload> Call(absl::string_view method, SharedInput input, absl::Duration timeout);
  using SharedInputStats = SessionBuffers::InputStats;
  SharedInputStats shared_input_stats() const { return buffers_.input_stats(); }
  using SharedResultStats = SessionBuffers::ResultStats;
  SharedResultStats shared_result_stats() const { return buffers_.result_stats(); }

  absl::Status SendBrokerResponse(const cordon::v1::BrokerResponse& response,
                                  absl::Span<const int> fds = {});

  // Data channels (plugins whose Hello has data_channels only, else FailedPrecondition): hands
  // `plugin_end` (one end of a SOCK_SEQPACKET socketpair) to the plugin as channel `id`, or
  // tells it to close channel `id`. The caller keeps ids unique and the count within
  // info().max_data_channels; the plugin treats anything else as a protocol violation.
  absl::Status SendDataChannelOpen(uint64_t id, int plugin_end);
  absl::Status SendDataChannelClose(uint64_t id);

  // draining: new calls are refused, the plugin answers what it has, acks and exits. OK when
  // the ack arrived within grace; DeadlineExceeded otherwise (kill it).
  absl::Status Shutdown(absl::Duration grace);

  // OK while healthy; the first failure otherwise.
  absl::Status status() const;
  const PluginInfo& info() const { return info_; }

 private:
  struct PendingCall;

  absl::Status SendEnvelope(const cordon::v1::Envelope& envelope, absl::Span<const int> fds);
  // Call() with the request's payload filled by `fill`. With `shared`, its buffer is announced
  // first when needed; *answered tells whether a CallResult arrived (vs. timeout/failure).
  absl::StatusOr<Payload> CallImpl(
      absl::string_view method, absl::Duration timeout,
      const std::function<absl::Status(cordon::v1::Payload*, std::vector<UniqueFd>*)>& fill,
      SharedInput* shared, bool* answered);
  void ReaderLoop();
  // Polls the channel (and the wake-up eventfd) once until deadline and handles what came.
  // Only the thread holding the reader role (reading_) calls it.
  void ReadOnce(absl::Time deadline, bool may_block);
  // ReadOnce, stopping early at the heartbeat deadline, and fails the session with
  // heartbeat_timeout when that passed with nothing to read. Reader role only.
  void ReadAndWatch(absl::Time deadline, bool may_block);
  void Consume(absl::StatusOr<SeqpacketChannel::Datagram> datagram);
  // Waits (lock held on entry and exit) until done() or deadline, taking the reader role
  // whenever it is free. Returns false on deadline.
  bool WaitFor(std::unique_lock<std::mutex>& lock, const std::function<bool()>& done,
               absl::Time deadline);
  void Wake();
  void HandleDatagram(SeqpacketChannel::Datagram datagram);
  bool ConsumeUnsolicitedToken();
  // Records the first failure, fails pending calls, reports a violation when the status
  // carries one. Later failures are ignored.
  void Fail(absl::Status status);
  absl::Status HandshakeFailure(absl::Status status);
  std::string Label() const;

  Options options_;
  SeqpacketChannel channel_;
  EnvelopeCodec codec_;
  PluginInfo info_;
  UniqueFd wake_fd_;  // eventfd: stops the reader thread

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable background_cv_;
  absl::Status failure_;  // guarded by mu_
  std::atomic<bool> failing_{false};
  bool handshake_done_ = false;
  bool draining_ = false;
  bool shutdown_acked_ = false;
  bool stopping_ = false;
  // Reader role: exactly one thread at a time polls and receives.
  bool reading_ = false;
  bool background_reading_ = false;
  int waiters_ = 0;
  absl::Time last_waiter_at_;
  static constexpr absl::Duration kIdleGrace = absl::Milliseconds(2);
  static constexpr absl::Duration kBlockingSlice = absl::Milliseconds(50);
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<PendingCall>> pending_;
  // Shared input and result buffers, enabled by Handshake() for a plugin that opts in.
  SessionBuffers buffers_;

  // Reader-role state (only the thread holding the role touches it).
  double tokens_ = 0;
  absl::Time tokens_at_;
  absl::Time last_message_at_;
  bool heartbeat_armed_ = false;  // a Heartbeat arrived: the silence watchdog runs
  std::thread reader_;
};

}  // namespace cordon::ipc

#endif  // CORDON_IPC_PLUGIN_SESSION_H_
