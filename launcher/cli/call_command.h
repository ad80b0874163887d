#ifndef CORDON_LAUNCHER_CLI_CALL_COMMAND_H_
#define CORDON_LAUNCHER_CLI_CALL_COMMAND_H_

#include <string>
#include <vector>

namespace cordon::cli {

// `cordon call`: loads a plugin bundle in its sandbox, calls one method, prints the result
// to stdout and shuts the plugin down.
class CallCommand {
 public:
  static int Main(const std::vector<std::string>& args);
  static const char* Usage();
};

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_CALL_COMMAND_H_
