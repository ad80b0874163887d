#ifndef CORDON_LAUNCHER_CLI_RUN_COMMAND_H_
#define CORDON_LAUNCHER_CLI_RUN_COMMAND_H_

#include <string>
#include <vector>

namespace cordon::cli {

// Exit statuses of `cordon run` besides the program's own (documented in --help and
// docs/cli.md).
inline constexpr int kExitQuotaKill = 124;
inline constexpr int kExitSetupFailure = 125;

// `cordon run`: one program, one sandbox, supervised until it ends.
class RunCommand {
 public:
  // args: everything after "run". Returns the process exit status.
  static int Main(const std::vector<std::string>& args);
};

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_RUN_COMMAND_H_
