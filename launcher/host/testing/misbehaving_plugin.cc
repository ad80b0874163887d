// A plugin for the host tests whose bad behaviour is chosen by its arguments (the manifest's
// args): --protocol=MIN-MAX, --name=NAME, --silent (never says hello), --no-data-channel
// (offers no data channels, as a plugin built before they existed). Its methods: "echo",
// "crash" (aborts), "hang" (never answers), "exit" (exits 7 mid-call), "rogue_open" (sends
// the host a data_channel_open of its own, which only the host may send).
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "sdk/cpp/plugin.h"

int main(int argc, char** argv) {
  cordon::sdk::Plugin::Options options;
  options.name = "misbehaving";
  options.version = "0.1.0";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--protocol=", 0) == 0) {
      options.protocol.min = static_cast<uint32_t>(std::atoi(arg.c_str() + 11));
      options.protocol.max = static_cast<uint32_t>(std::atoi(strchr(arg.c_str(), '-') + 1));
    } else if (arg.rfind("--name=", 0) == 0) {
      options.name = arg.substr(7);
    } else if (arg == "--no-data-channel") {
      options.max_data_channels = 0;
    } else if (arg == "--silent") {
      for (;;) pause();  // never speaks: the host's handshake timeout must fire
    }
  }
  cordon::sdk::Plugin plugin(options);
  plugin.Register("echo", [](const cordon::sdk::CallContext&, const cordon::ipc::Payload& in)
                              -> absl::StatusOr<cordon::ipc::Payload> { return in.ToString(); });
  plugin.Register("crash", [](const cordon::sdk::CallContext&, const cordon::ipc::Payload&)
                               -> absl::StatusOr<cordon::ipc::Payload> { abort(); });
  plugin.Register("hang", [](const cordon::sdk::CallContext&, const cordon::ipc::Payload&)
                              -> absl::StatusOr<cordon::ipc::Payload> {
    for (;;) pause();
  });
  plugin.Register("exit", [](const cordon::sdk::CallContext&, const cordon::ipc::Payload&)
                              -> absl::StatusOr<cordon::ipc::Payload> { _exit(7); });
  plugin.Register(
      "rogue_open",
      [](const cordon::sdk::CallContext&,
         const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> {
        cordon::v1::Envelope env;
        env.mutable_data_channel_open()->set_channel_id(1);
        std::string bytes = env.SerializeAsString();
        const char* fd = std::getenv("CORDON_CHANNEL_FD");
        if (send(fd != nullptr ? std::atoi(fd) : 3, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) {
          return absl::InternalError("send failed");
        }
        for (;;) pause();  // the host kills this plugin for it
      });
  absl::Status served = plugin.Serve();
  return served.ok() ? 0 : 1;
}
