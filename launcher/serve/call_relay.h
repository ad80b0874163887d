#ifndef CORDON_LAUNCHER_SERVE_CALL_RELAY_H_
#define CORDON_LAUNCHER_SERVE_CALL_RELAY_H_

#include <atomic>
#include <memory>
#include <thread>

#include "ipc/seqpacket_channel.h"
#include "ipc/unique_fd.h"
#include "launcher/serve/plugin_registry.h"

namespace cordon::serve {

// Largest datagram on a data-plane channel.
inline constexpr size_t kMaxChannelDatagram = 1 << 20;

// The daemon's end of a data-plane channel handed to a client by open_channel: the client
// sends cordon.v1.Envelope{call_request} datagrams and gets Envelope{call_result} back, with
// no control-protocol framing, no per-request thread and no ownership lookup per call (the
// ownership check happened once, when the channel was opened). Calls on one channel are
// served in order; a client wanting parallel calls opens several channels. Anything but a
// call_request closes the channel.
class CallRelay {
 public:
  CallRelay(std::shared_ptr<PluginEntry> entry, ipc::UniqueFd fd);
  ~CallRelay();  // Stop() and join
  CallRelay(const CallRelay&) = delete;
  CallRelay& operator=(const CallRelay&) = delete;

  // Wakes the relay out of its receive; it closes the channel and ends.
  void Stop();
  bool finished() const { return finished_.load(); }

 private:
  void Loop();

  std::shared_ptr<PluginEntry> entry_;
  ipc::SeqpacketChannel channel_;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace cordon::serve

#endif  // CORDON_LAUNCHER_SERVE_CALL_RELAY_H_
