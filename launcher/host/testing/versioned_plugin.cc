// A plugin for the upgrade tests (plugin_slot_test.cc): one binary plays every version of a
// plugin, chosen by the manifest's args, so a test can build bundles 1.0.0, 2.0.0, ... that
// answer differently. Arguments: --name=NAME (default "versioned"), --version=SEMVER (default
// 1.0.0), --protocol=MIN-MAX, --crash-at-start (aborts before its Hello), --unhealthy (the
// "health" method fails). Methods: "version" (returns its version), "echo", "health" (OK or
// FAILED_PRECONDITION), "crash" (aborts), "gate" (calls the host function "gate" with its
// input and returns "<version>:<answer>", so a test can hold a call in flight on the host
// side without sleeping).
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "sdk/cpp/plugin.h"

int main(int argc, char** argv) {
  cordon::sdk::Plugin::Options options;
  options.name = "versioned";
  options.version = "1.0.0";
  options.protocol = {1, 1};
  bool unhealthy = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--name=", 0) == 0) {
      options.name = arg.substr(7);
    } else if (arg.rfind("--version=", 0) == 0) {
      options.version = arg.substr(10);
    } else if (arg.rfind("--protocol=", 0) == 0) {
      options.protocol.min = static_cast<uint32_t>(std::atoi(arg.c_str() + 11));
      options.protocol.max = static_cast<uint32_t>(std::atoi(strchr(arg.c_str() + 11, '-') + 1));
    } else if (arg == "--crash-at-start") {
      abort();
    } else if (arg == "--unhealthy") {
      unhealthy = true;
    }
  }
  const std::string version = options.version;
  cordon::sdk::Plugin plugin(options);
  plugin.Register("version",
                  [version](const cordon::sdk::CallContext&, const cordon::ipc::Payload&)
                      -> absl::StatusOr<cordon::ipc::Payload> { return version; });
  plugin.Register("echo",
                  [](const cordon::sdk::CallContext&, const cordon::ipc::Payload& in)
                      -> absl::StatusOr<cordon::ipc::Payload> { return in.ToString(); });
  plugin.Register("health",
                  [unhealthy](const cordon::sdk::CallContext&,
                              const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> {
                    if (unhealthy)
                      return absl::FailedPreconditionError("not healthy: test plugin told so");
                    return std::string("ok");
                  });
  plugin.Register(
      "crash",
      [](const cordon::sdk::CallContext&,
         const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> { abort(); });
  plugin.Register(
      "gate",
      [&plugin, version](const cordon::sdk::CallContext&,
                         const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
        absl::StatusOr<std::string> answer =
            plugin.CallHost("gate", in.ToString(), absl::Seconds(30));
        if (!answer.ok()) return answer.status();
        return absl::StrCat(version, ":", *answer);
      });
  return plugin.Main();
}
