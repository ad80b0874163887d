// cordon: the command-line entry point. Each subcommand lives in its own class; this file
// only dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "audit/audit_command.h"
#include "launcher/cli/call_command.h"
#include "launcher/cli/learn_command.h"
#include "launcher/cli/run_command.h"
#include "launcher/serve/serve_command.h"
#include "sandbox-profiles/profile_command.h"

namespace {

constexpr char kUsage[] = R"(usage: cordon COMMAND [ARGS...]

Commands:
  run [OPTIONS] [--] PROGRAM [ARG...]   run a program in a fresh sandbox (cordon run --help)
  call [OPTIONS] BUNDLE METHOD          load a plugin bundle, call one method (cordon call --help)
  serve --control-socket PATH [OPTIONS] run the daemon for host clients (cordon serve --help)
  profile check FILE                    validate a profile; errors carry line:column
  profile learn [--profile BASE] -- PROGRAM [ARG...]
                                        UNSAFE, trusted programs only: print a profile
                                        allowing exactly the syscalls PROGRAM used
  profile show NAME|PATH                print the effective profile and its syscall allowlist
  audit verify|query|summary|tail ...   review a cordon audit log (cordon audit --help)
  version                               print the version

See cordon(1), cordon-run(1) and cordon-profile(5).
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "run") return cordon::cli::RunCommand::Main(rest);
  if (command == "call") return cordon::cli::CallCommand::Main(rest);
  if (command == "serve") return cordon::serve::ServeCommand::Main(rest);
  if (command == "profile" && !rest.empty() && rest[0] == "learn") {
    return cordon::cli::LearnCommand::Main(std::vector<std::string>(rest.begin() + 1, rest.end()));
  }
  if (command == "profile") return cordon::profiles::RunProfileCommand(rest, std::cout, std::cerr);
  if (command == "audit") return cordon::audit::RunAuditCommand(rest, std::cout, std::cerr);
  if (command == "version" || command == "--version") {
    std::cout << "cordon " << CORDON_VERSION << "\n";
    return 0;
  }
  std::cerr << "cordon: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
