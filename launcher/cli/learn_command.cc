#include "launcher/cli/learn_command.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "launcher/cli/run_command.h"
#include "launcher/host/plugin_quotas.h"
#include "launcher/host/sandbox_spec_builder.h"
#include "launcher/sandbox/sandbox_spawner.h"
#include "launcher/supervisor/plugin_auditor.h"
#include "launcher/supervisor/sandbox_supervisor.h"
#include "sandbox-profiles/profile_loader.h"
#include "sandbox-profiles/seccomp_compiler.h"
#include "sandbox-profiles/syscall_groups.h"

namespace cordon::cli {
namespace {

constexpr char kWarning[] =
    "cordon profile learn: UNSAFE FOR UNTRUSTED CODE: every syscall outside the base profile "
    "is recorded and then allowed to run. Use it only on a program you trust, then run the "
    "program under the printed profile.\n";

int Fail(const std::string& message) {
  std::cerr << "cordon profile learn: " << message << "\n";
  return kExitSetupFailure;
}

}  // namespace

const char* LearnCommand::Usage() {
  return R"(usage: cordon profile learn [--profile BASE] [--output FILE] -- PROGRAM [ARG...]

Runs PROGRAM (a TRUSTED program: this mode is unsafe for untrusted code) in the sandbox of the
base profile (default: "default"), lets every syscall outside its allowlist run while recording
it, and prints a profile that adds exactly those syscalls to the base's seccomp.allow (on stdout,
or into FILE with --output; PROGRAM's own stdout goes to stderr, so stdout holds only the
profile). Syscalls
that the base denies through an argument rule (socket families, clone namespace flags, TIOCSTI)
or that cordon never allows are listed as comments with the reason.
)";
}

std::string LearnCommand::RenderLearnedProfile(const cordon::v1::Profile& base,
                                               const std::map<std::string, uint64_t>& used) {
  std::set<std::string> already;
  if (absl::StatusOr<profiles::SeccompProgram> compiled =
          profiles::SeccompCompiler::Compile(base.seccomp(), {});
      compiled.ok()) {
    already.insert(compiled->allowed_syscalls.begin(), compiled->allowed_syscalls.end());
  }
  cordon::v1::Profile learned = base;
  learned.set_name(absl::StrCat(base.name(), "-learned"));
  learned.set_description(absl::StrCat("learned by cordon profile learn from base '",
                                       base.name(), "'"));
  std::string comments;
  for (const auto& [name, count] : used) {
    if (absl::StrContains(name, " (")) {
      absl::StrAppend(&comments, "#   ", name, " x", count,
                      ": a foreign ABI (i386 or x32); always killed, cannot be allowed\n");
    } else if (profiles::SyscallGroups::IsNeverAllowed(name)) {
      absl::StrAppend(&comments, "#   ", name, " (x", count,
                      "): never allowed by cordon; the program must do without it\n");
    } else if (already.count(name) != 0) {
      absl::StrAppend(&comments, "#   ", name, " (x", count,
                      "): allowed by the base, denied by an argument rule; cannot be lifted\n");
    } else if (name == "unknown") {
      absl::StrAppend(&comments, "#   an unknown syscall number (x", count, ")\n");
    } else if (std::find(learned.seccomp().allow().begin(), learned.seccomp().allow().end(),
                         name) == learned.seccomp().allow().end()) {
      learned.mutable_seccomp()->add_allow(name);
    }
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(learned, &text);
  std::string header = absl::StrCat("# Learned by `cordon profile learn` from base profile '",
                                    base.name(), "'.\n# Review before use: it allows ",
                                    learned.seccomp().allow_size() - base.seccomp().allow_size(),
                                    " more syscall(s) than the base.\n");
  if (!comments.empty()) {
    absl::StrAppend(&header, "# Used but not added:\n", comments);
  }
  return absl::StrCat(header, text);
}

int LearnCommand::Main(const std::vector<std::string>& args) {
  std::string base_name = "default", output;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    if (args[i] == "-h" || args[i] == "--help") {
      std::cout << Usage();
      return 0;
    }
    if (args[i] == "--") {
      ++i;
      break;
    }
    if ((args[i] == "--profile" || args[i] == "--output") && i + 1 < args.size()) {
      (args[i] == "--profile" ? base_name : output) = args[i + 1];
      ++i;
      continue;
    }
    if (args[i].starts_with("-")) return Fail(absl::StrCat("unknown option '", args[i], "'"));
    break;
  }
  host::LaunchOverrides overrides;
  overrides.command.assign(args.begin() + static_cast<long>(i), args.end());
  if (overrides.command.empty()) return Fail("no PROGRAM given; see --help");
  std::cerr << kWarning;

  absl::StatusOr<cordon::v1::Profile> base = profiles::ProfileLoader::Load(base_name);
  if (!base.ok()) return Fail(std::string(base.status().message()));
  absl::StatusOr<host::SandboxPlan> plan = host::SandboxSpecBuilder::Build(*base, overrides);
  if (!plan.ok()) return Fail(std::string(plan.status().message()));
  // stdout carries the learned profile and nothing else (`cordon profile learn -- prog >
  // p.textproto` must give a valid profile), so the program's stdout goes to our stderr.
  plan->spec.stdio[STDOUT_FILENO] = STDERR_FILENO;
  std::string note;
  std::unique_ptr<host::PluginQuotas> quotas = host::PluginQuotas::Attach(&*plan, "learn", &note);
  supervisor::PluginAuditor auditor(nullptr, {absl::StrCat("learn-", getpid()), "learn", ""});
  sandbox::SpawnHooks hooks;
  hooks.before_start = [&](pid_t pid) { return quotas->PlaceInCgroup(pid); };
  absl::StatusOr<std::unique_ptr<sandbox::SandboxProcess>> process =
      sandbox::SandboxSpawner::Spawn(plan->spec, hooks);
  if (!process.ok()) return Fail(std::string(process.status().message()));
  supervisor::SupervisorOptions options;
  options.danger_learn_mode = true;
  supervisor::SandboxSupervisor supervisor(process->get(), &auditor, options);
  absl::StatusOr<supervisor::SupervisionResult> result = supervisor.Run();
  if (!result.ok()) return Fail(std::string(result.status().message()));

  std::string rendered = RenderLearnedProfile(*base, auditor.violation_counts());
  if (output.empty()) {
    std::cout << rendered;
  } else {
    std::ofstream out(output);
    out << rendered;
    if (!out) return Fail(absl::StrCat("cannot write --output '", output, "'"));
    std::cerr << "cordon profile learn: wrote " << output << "\n";
  }
  std::cerr << "cordon profile learn: the program exited with status "
            << result->exit.ShellStatus() << "\n";
  return 0;
}

}  // namespace cordon::cli
