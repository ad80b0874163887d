#ifndef CORDON_LAUNCHER_CLI_LEARN_COMMAND_H_
#define CORDON_LAUNCHER_CLI_LEARN_COMMAND_H_

#include <map>
#include <string>
#include <vector>

#include "cordon/v1/profile.pb.h"

namespace cordon::cli {

// `cordon profile learn`: runs a TRUSTED program in the sandbox with every syscall outside
// the base profile recorded and then allowed to run, and prints a profile that allows exactly
// what was used. Unsafe for untrusted code by design; it says so on every run.
class LearnCommand {
 public:
  static int Main(const std::vector<std::string>& args);
  static const char* Usage();

  // The base profile plus `used` syscalls in seccomp.allow, as commented text proto. Names
  // the base already allows (denied by an argument rule) or that are never allowed go into
  // comments instead, with the reason.
  static std::string RenderLearnedProfile(const cordon::v1::Profile& base,
                                          const std::map<std::string, uint64_t>& used);
};

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_LEARN_COMMAND_H_
