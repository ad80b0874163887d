#include "launcher/cli/run_flags.h"

#include <cctype>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cordon::cli {
namespace {

absl::StatusOr<BindFlag> ParseBind(const std::string& flag, const std::string& value,
                                   bool writable) {
  std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits(':', 1));
  BindFlag bind;
  bind.source = parts[0];
  bind.destination = parts.size() > 1 ? parts[1] : parts[0];
  bind.writable = writable;
  if (bind.source.empty() || bind.source[0] != '/' || bind.destination.empty() ||
      bind.destination[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " '", value, "': expected SRC[:DST] with absolute paths, e.g. ", flag,
        " /srv/data:/data"));
  }
  return bind;
}

}  // namespace

const char* RunFlags::Usage() {
  static const std::string* const text = new std::string(absl::StrCat(
      R"(usage: cordon run [OPTIONS] [--] PROGRAM [ARG...]

Runs PROGRAM (a host path; static or dynamic) in a fresh sandbox: new user, pid, mount, net,
ipc, uts and cgroup namespaces; no capabilities; no_new_privs; the profile's seccomp
allowlist, mount tree and quotas. stdin, stdout and stderr pass through.

Options:
  --profile NAME|PATH   sandbox profile (default: "default"). NAME is looked up in
                        $CORDON_PROFILE_PATH, /etc/cordon/profiles, /usr/share/cordon/profiles,
                        then the source tree; see `cordon profile show NAME`.
)",
      AuditLogFlags::Help(),
      R"(  --cgroup-parent PATH  create the plugin's cgroup under this cgroup (absolute cgroup path,
                        e.g. /cordon.slice) instead of below cordon's own cgroup.
  --ro-bind SRC[:DST]   bind host path SRC read-only (nosuid, nodev) at DST (default SRC).
  --bind SRC[:DST]      bind host path SRC writable (nosuid, nodev) at DST.
  --env KEY=VALUE       set a variable in the program's otherwise clean environment.
  --memory SIZE         memory quota, e.g. 256M (cgroup; RLIMIT_AS when rootless).
  --pids N              processes + threads quota (cgroup pids; RLIMIT_NPROC when rootless).
  --cpu-time SECONDS    CPU time quota (RLIMIT_CPU: SIGXCPU, then SIGKILL one second later).
  --cpu-rate PERCENT    CPU bandwidth quota; 100 = one core (cgroup only).
  --wall-time DURATION  kill the sandbox after this long, e.g. 30s, 500ms, 2m.
  --open-files N        RLIMIT_NOFILE.
  --file-size SIZE      largest file the program may write (RLIMIT_FSIZE: SIGXFSZ).
  --tmp-size SIZE       size of the sandbox's /tmp tmpfs.
  -h, --help            this text.

Exit status:
  the program's exit status; 128+N when it died of signal N;
  124 when cordon killed it for exceeding a quota (one line on stderr names the quota);
  125 when the sandbox could not be set up (the message names the failed step, the errno
      and what to do); 159 (128+SIGSYS) when killed for a seccomp violation.
)"));
  return text->c_str();
}

absl::StatusOr<RunFlags> RunFlags::Parse(const std::vector<std::string>& args) {
  RunFlags flags;
  size_t i = 0;
  auto value_of = [&](const std::string& flag) -> absl::StatusOr<std::string> {
    if (i + 1 >= args.size()) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value; see cordon run --help"));
    }
    return args[++i];
  };
  for (; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string inline_value;
    bool has_inline = false;
    if (arg.starts_with("--") && arg.find('=') != std::string::npos) {
      inline_value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_inline = true;
    }
    auto value = [&]() -> absl::StatusOr<std::string> {
      if (has_inline) return inline_value;
      return value_of(arg);
    };
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      flags.help = true;
      return flags;
    }
    if (arg.empty() || arg[0] != '-') break;
    if (AuditLogFlags::Handles(arg)) {
      std::string v;
      if (AuditLogFlags::TakesValue(arg)) {
        absl::StatusOr<std::string> got = value();
        if (!got.ok()) return got.status();
        v = *got;
      }
      if (absl::Status s = flags.audit.Set(arg, v); !s.ok()) return s;
      continue;
    }
    absl::StatusOr<std::string> v = value();
    if (!v.ok()) return v.status();
    if (arg == "--profile") {
      flags.profile = *v;
    } else if (arg == "--cgroup-parent") {
      if (v->empty() || (*v)[0] != '/') {
        return absl::InvalidArgumentError(absl::StrCat(
            "--cgroup-parent '", *v, "': expected an absolute cgroup path, e.g. /cordon.slice"));
      }
      flags.cgroup_parent = *v;
    } else if (arg == "--ro-bind" || arg == "--bind") {
      absl::StatusOr<BindFlag> bind = ParseBind(arg, *v, arg == "--bind");
      if (!bind.ok()) return bind.status();
      flags.binds.push_back(*bind);
    } else if (arg == "--env") {
      if (v->find('=') == std::string::npos || v->front() == '=') {
        return absl::InvalidArgumentError(
            absl::StrCat("--env '", *v, "': expected KEY=VALUE, e.g. --env LANG=C.UTF-8"));
      }
      flags.env.push_back(*v);
    } else if (arg == "--memory" || arg == "--file-size" || arg == "--tmp-size") {
      absl::StatusOr<uint64_t> bytes = ParseByteSize(arg, *v);
      if (!bytes.ok()) return bytes.status();
      if (arg == "--memory") flags.quotas.memory_bytes = *bytes;
      if (arg == "--file-size") flags.quotas.file_size_bytes = *bytes;
      if (arg == "--tmp-size") flags.quotas.tmp_size_bytes = *bytes;
    } else if (arg == "--wall-time") {
      absl::StatusOr<uint64_t> ms = ParseDurationMs(arg, *v);
      if (!ms.ok()) return ms.status();
      flags.quotas.wall_time_ms = *ms;
    } else if (arg == "--pids" || arg == "--cpu-time" || arg == "--cpu-rate" ||
               arg == "--open-files") {
      uint64_t number = 0;
      if (!absl::SimpleAtoi(*v, &number) || number == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(arg, " '", *v, "': expected a positive whole number"));
      }
      if (arg == "--pids") flags.quotas.pids = number;
      if (arg == "--cpu-time") flags.quotas.cpu_time_seconds = number;
      if (arg == "--cpu-rate") {
        if (number > 100000) {
          return absl::InvalidArgumentError(absl::StrCat(arg, " '", *v, "' is too large"));
        }
        flags.quotas.cpu_rate_percent = static_cast<uint32_t>(number);
      }
      if (arg == "--open-files") flags.quotas.open_files = number;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option '", arg, "'; see cordon run --help"));
    }
  }
  for (; i < args.size(); ++i) flags.command.push_back(args[i]);
  if (absl::Status s = flags.audit.Validate(); !s.ok()) return s;
  if (flags.command.empty()) {
    return absl::InvalidArgumentError(
        "no PROGRAM given; usage: cordon run [OPTIONS] [--] PROGRAM [ARG...]");
  }
  return flags;
}

}  // namespace cordon::cli
