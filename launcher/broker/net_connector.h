#ifndef CORDON_LAUNCHER_BROKER_NET_CONNECTOR_H_
#define CORDON_LAUNCHER_BROKER_NET_CONNECTOR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ipc/unique_fd.h"
#include "launcher/broker/endpoint_matcher.h"

namespace cordon::broker {

struct Connection {
  ipc::UniqueFd fd;     // blocking, close-on-exec, connected stream socket
  std::string address;  // what it connected to: "1.2.3.4:80", "[::1]:80", "unix:/path"
};

// Connects on the plugin's behalf to a target EndpointMatcher already approved. Only the
// addresses in the target are ever dialled. Stream sockets only.
class NetConnector {
 public:
  // Tries the addresses in order until one connects; the whole attempt stops at `timeout`.
  // The error lists each address tried and why it failed.
  static absl::StatusOr<Connection> Connect(const ConnectTarget& target, absl::Duration timeout);
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_NET_CONNECTOR_H_
