#ifndef CORDON_LAUNCHER_BROKER_BROKER_REPLY_H_
#define CORDON_LAUNCHER_BROKER_BROKER_REPLY_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "cordon/v1/broker.pb.h"
#include "ipc/unique_fd.h"

namespace cordon::broker {

// Answer to one broker request: send with PluginSession::SendBrokerResponse(response, fds)
// unless `answer` is false.
struct BrokerReply {
  // Caps on an error answer, so that any error fits in one datagram (64 KiB) whatever the
  // status holds: the message, and up to kMaxErrorDetails status payloads of which the first
  // kMaxDetailBytes bytes are shown. Together at most about 46 KiB.
  static constexpr size_t kMaxErrorMessageBytes = 8 * 1024;
  static constexpr size_t kMaxErrorDetails = 16;
  static constexpr size_t kMaxDetailKeyBytes = 256;
  static constexpr size_t kMaxDetailBytes = 1024;

  cordon::v1::BrokerResponse response;
  std::vector<ipc::UniqueFd> fds;
  // False for a log line sent with request id 0: logs are fire-and-forget, nothing goes back
  // (docs/protocol.md), so a plugin that logs while it computes never has unread answers
  // piling up in its channel.
  bool answer = true;

  std::vector<int> raw_fds() const;

  // An error answer to request `id` (see FillError).
  static BrokerReply Error(uint64_t id, const absl::Status& status);
  // Puts `status` into `error` so that the plugin can always decode it and it always fits:
  // the code; the message as valid UTF-8 (other bytes as \xNN), cut at kMaxErrorMessageBytes
  // with a marker; the payloads as details, type URL -> bytes when the bytes are UTF-8 text,
  // else type URL + ";hex" -> their lower-case hex, each cut after kMaxDetailBytes bytes of
  // payload with a marker; payloads beyond kMaxErrorDetails are counted in the detail
  // "cordon.details_dropped".
  static void FillError(const absl::Status& status, cordon::v1::Error* error);
  // Turns an answer larger than `max_bytes` into an error saying so (its fds are closed), so
  // that no answer is ever lost to the datagram cap.
  void Bound(size_t max_bytes);
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_BROKER_REPLY_H_
