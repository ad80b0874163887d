#ifndef CORDON_SANDBOX_PROFILES_PROFILE_COMMAND_H_
#define CORDON_SANDBOX_PROFILES_PROFILE_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace cordon::profiles {

// `cordon profile ...`: args are what follows "profile" on the command line.
//   check FILE...        parse + validate; prints "FILE: ok" or the errors with line:column
//   show NAME|PATH       the effective profile as text proto, then the resolved syscall
//                        allowlist by group and the argument rules (as # comments)
// Returns the process exit code: 0 ok, 1 a profile is invalid or missing, 2 usage error.
int RunProfileCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace cordon::profiles

#endif  // CORDON_SANDBOX_PROFILES_PROFILE_COMMAND_H_
