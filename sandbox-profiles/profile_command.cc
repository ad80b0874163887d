#include "sandbox-profiles/profile_command.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "sandbox-profiles/profile_loader.h"
#include "sandbox-profiles/seccomp_compiler.h"
#include "sandbox-profiles/string_view_compat.h"
#include "sandbox-profiles/syscall_groups.h"

namespace cordon::profiles {
namespace {

constexpr char kUsage[] =
    "usage: cordon profile check FILE...\n"
    "       cordon profile show NAME|PATH\n"
    "\n"
    "  check   parse and validate profile files; prints \"FILE: ok\" or every error as\n"
    "          FILE:LINE:COLUMN: field: message. Exit status 1 if any file is invalid.\n"
    "  show    print the effective profile (defaults applied) as text proto, followed by\n"
    "          the resolved seccomp allowlist by group and the argument rules.\n"
    "\n"
    "A NAME (no '/', no .textproto suffix) is looked up as NAME.textproto in:\n"
    "  $CORDON_PROFILE_PATH (colon-separated), /etc/cordon/profiles,\n"
    "  /usr/share/cordon/profiles (and the source tree when run from a build tree).\n"
    "Schema and syscall groups: docs/profiles.md\n";

// Writes `words` as "# <label>: w1 w2 ..." wrapped to ~100 columns.
void PrintWrapped(std::ostream& out, std::string_view label,
                  const std::vector<std::string>& words) {
  std::string line = absl::StrCat("#   ", Av(label), ":");
  const std::string indent = "#     ";
  for (const std::string& w : words) {
    if (line.size() + 1 + w.size() > 100) {
      out << line << "\n";
      line = indent.substr(0, indent.size() - 1);
    }
    absl::StrAppend(&line, " ", w);
  }
  out << line << "\n";
}

int Check(const std::vector<std::string>& files, std::ostream& out, std::ostream& err) {
  int status = 0;
  for (const std::string& file : files) {
    absl::StatusOr<std::string> text = ProfileLoader::ReadFile(file);
    absl::StatusOr<cordon::v1::Profile> profile =
        text.ok() ? ProfileLoader::ParseText(*text, file) : text.status();
    if (profile.ok()) {
      out << file << ": ok\n";
    } else {
      err << profile.status().message() << "\n";
      status = 1;
    }
  }
  return status;
}

int Show(const std::string& name_or_path, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::string> path = ProfileLoader::Resolve(name_or_path);
  if (!path.ok()) {
    err << path.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<cordon::v1::Profile> profile = ProfileLoader::Load(*path);
  if (!profile.ok()) {
    err << profile.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<SeccompProgram> program =
      SeccompCompiler::Compile(profile->seccomp(), SeccompCompileOptions{});
  if (!program.ok()) {
    err << *path << ": seccomp: " << program.status().message() << "\n";
    return 1;
  }
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  printer.PrintToString(*profile, &text);
  out << "# effective profile '" << profile->name() << "' from " << *path << "\n" << text;

  const cordon::v1::SeccompPolicy& policy = profile->seccomp();
  std::set<std::string> allowed(program->allowed_syscalls.begin(), program->allowed_syscalls.end());
  out << "#\n# seccomp allowlist: " << allowed.size() << " syscalls, "
      << program->instructions.size() << " BPF instructions; violations: "
      << (policy.on_violation() == cordon::v1::SeccompPolicy::KILL ? "KILL" : "EPERM") << "\n";
  for (const std::string& group_name : policy.groups()) {
    absl::StatusOr<const SyscallGroups::Group*> group = SyscallGroups::Lookup(group_name);
    if (!group.ok()) continue;
    std::vector<std::string> members;
    for (std::string_view s : (*group)->syscalls) {
      if (allowed.count(std::string(s))) members.emplace_back(s);
    }
    std::sort(members.begin(), members.end());
    PrintWrapped(out, absl::StrCat("group ", group_name), members);
  }
  auto print_list = [&out](std::string_view label,
                           const google::protobuf::RepeatedPtrField<std::string>& names) {
    if (names.empty()) return;
    std::vector<std::string> sorted(names.begin(), names.end());
    std::sort(sorted.begin(), sorted.end());
    PrintWrapped(out, label, sorted);
  };
  print_list("allow", policy.allow());
  print_list("DANGER danger_allow", policy.danger_allow());
  print_list("removed by deny", policy.deny());
  out << "#\n# argument rules (always applied):\n";
  for (const std::string& rule : SeccompCompiler::DescribeArgumentRules()) {
    out << "#   " << rule << "\n";
  }
  out << "#\n";
  std::vector<std::string> never(SyscallGroups::NeverAllowed().begin(),
                                 SyscallGroups::NeverAllowed().end());
  PrintWrapped(out, "never allowed (only via seccomp.danger_allow)", never);
  return 0;
}

}  // namespace

int RunProfileCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUsage;
    return 2;
  }
  const std::string& cmd = args[0];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    out << kUsage;
    return 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const std::string& a : rest) {
    if (a == "--help" || a == "-h") {
      out << kUsage;
      return 0;
    }
  }
  if (cmd == "check") {
    if (rest.empty()) {
      err << "cordon profile check: expected at least one FILE\n" << kUsage;
      return 2;
    }
    return Check(rest, out, err);
  }
  if (cmd == "show") {
    if (rest.size() != 1) {
      err << "cordon profile show: expected exactly one NAME|PATH\n" << kUsage;
      return 2;
    }
    return Show(rest[0], out, err);
  }
  err << "cordon profile: unknown subcommand '" << cmd << "'\n" << kUsage;
  return 2;
}

}  // namespace cordon::profiles
