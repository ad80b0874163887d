#ifndef CORDON_LAUNCHER_SERVE_SERVE_COMMAND_H_
#define CORDON_LAUNCHER_SERVE_SERVE_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/cli/audit_log_flags.h"
#include "launcher/serve/control_server.h"

namespace cordon::serve {

// `cordon serve`: runs the control daemon until SIGINT/SIGTERM.
class ServeCommand {
 public:
  struct Flags {
    ControlServerOptions server;
    cli::AuditLogFlags audit;
  };

  static int Main(const std::vector<std::string>& args);
  static const char* Usage();
  // Parses the flags (without the leading "serve"). Errors name the flag.
  static absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& args);
};

}  // namespace cordon::serve

#endif  // CORDON_LAUNCHER_SERVE_SERVE_COMMAND_H_
