#ifndef CORDON_LAUNCHER_CLI_RUN_FLAGS_H_
#define CORDON_LAUNCHER_CLI_RUN_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/cli/audit_log_flags.h"
#include "launcher/cli/flag_values.h"
#include "launcher/host/launch_overrides.h"

namespace cordon::cli {

using BindFlag = host::BindMount;
using QuotaFlags = host::QuotaOverrides;

// The parsed command line of `cordon run`.
struct RunFlags {
  std::string profile = "default";
  AuditLogFlags audit;  // --audit-*
  std::string cgroup_parent;
  std::vector<BindFlag> binds;
  std::vector<std::string> env;
  QuotaFlags quotas;
  bool help = false;
  std::vector<std::string> command;  // PROGRAM [ARG...]

  // Parses the arguments after "run". Errors name the flag and the expected form.
  host::LaunchOverrides ToOverrides() const { return {command, env, binds, quotas, cgroup_parent, {}}; }

  static absl::StatusOr<RunFlags> Parse(const std::vector<std::string>& args);
  static const char* Usage();
};

}  // namespace cordon::cli

#endif  // CORDON_LAUNCHER_CLI_RUN_FLAGS_H_
