// The smallest useful cordon plugin: two methods, no capabilities. Copy this file to start a
// new plugin; the SDK does the handshake, heartbeats and shutdown.
#include <algorithm>
#include <string>

#include "sdk/cpp/plugin.h"

int main() {
  cordon::sdk::Plugin::Options options;
  options.name = "echo";  // must match manifest.textproto
  options.version = "1.0.0";
  cordon::sdk::Plugin plugin(options);

  plugin.Register("echo",
                  [](const cordon::sdk::CallContext&, const cordon::ipc::Payload& in)
                      -> absl::StatusOr<cordon::ipc::Payload> { return in.ToString(); });
  plugin.Register("reverse",
                  [](const cordon::sdk::CallContext&,
                     const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
                    std::string s = in.ToString();
                    std::reverse(s.begin(), s.end());
                    return s;
                  });
  return plugin.Main();
}
