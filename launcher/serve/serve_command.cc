#include "launcher/serve/serve_command.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "audit/audit_log.h"
#include "ipc/unique_fd.h"
#include "launcher/host/audit_failure_enforcer.h"

namespace cordon::serve {
namespace {

// Written by the signal handler, read by Main: a self-pipe keeps the signal mask untouched,
// so plugins spawned by the daemon never inherit blocked signals.
int g_signal_pipe_write = -1;

void OnSignal(int) {
  const char c = 's';
  (void)!write(g_signal_pipe_write, &c, 1);
}

// A number, or a name looked up in the user (--allow-uid) or group (--allow-gid) database,
// resolved once, at start: a renamed or removed group does not change who is admitted until
// the daemon restarts.
absl::StatusOr<uint32_t> IdFor(const std::string& flag, const std::string& text) {
  uint32_t id = 0;
  if (absl::SimpleAtoi(text, &id) && id != static_cast<uint32_t>(-1)) return id;
  const bool user = flag == "--allow-uid";
  char buf[16384];
  if (!text.empty() && user) {
    struct passwd entry;
    struct passwd* found = nullptr;
    if (getpwnam_r(text.c_str(), &entry, buf, sizeof buf, &found) == 0 && found != nullptr) {
      return static_cast<uint32_t>(found->pw_uid);
    }
  } else if (!text.empty()) {
    struct group entry;
    struct group* found = nullptr;
    if (getgrnam_r(text.c_str(), &entry, buf, sizeof buf, &found) == 0 && found != nullptr) {
      return static_cast<uint32_t>(found->gr_gid);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " '", text, "' is neither a ",
                   user ? "uid nor a known user" : "gid nor a known group", " name"));
}

int Fail(const std::string& message, int status = 2) {
  std::cerr << "cordon serve: " << message << "\n";
  return status;
}

}  // namespace

const char* ServeCommand::Usage() {
  static const std::string* const text =
      new std::string(absl::StrCat(R"(usage: cordon serve --control-socket PATH [OPTIONS]

Runs the cordon daemon: host applications in any language (sdk/go) connect to the unix
SOCK_SEQPACKET control socket PATH and load, call, list and unload sandboxed plugins with the
cordon.v1 control API (ipc/proto/cordon/v1/control.proto). Stops on SIGINT/SIGTERM, unloading
every plugin.

Options:
  --control-socket PATH       where to listen (an existing stale socket file is replaced)
  --allow-uid USER            admit clients with this uid or user name (repeatable)
  --allow-gid GROUP           admit clients with this primary or supplementary gid or group
                              name (repeatable); neither given: only the daemon's own uid
  --plugins-outlive-clients   a client's plugins stay loaded after its connection closes
                              (default: they are unloaded with it; a load request may choose)
  --share-plugins             every admitted client sees and controls every plugin
                              (default: a client sees only the plugins its uid loaded)
  --max-clients N             concurrent connections (default 64)
  --no-direct-channels        refuse loads asking for a direct channel (calls that bypass the
                              daemon, whose deadlines it then cannot enforce); open_channel
                              then always relays
  --socket-mode OCTAL         socket file mode (default 0666: access is decided by SO_PEERCRED,
                              and refused clients are audited)
)",
                                   cli::AuditLogFlags::Help(),
                                   R"(  -h, --help                  this text

The audit log records refused clients, loads, channel hand-outs and every plugin's records.
Once a record cannot be written: --audit-on-failure kill (the default) kills every plugin at
once (they stay listed as failed) and refuses new loads, serving on; stop kills them too and
exits with status 1; deny refuses only what needs a record (loads, broker requests, channel
hand-outs) and lets running plugins go on computing.

Exit status: 0 after a clean stop; 1 when the daemon could not start or stopped because the
audit log failed; 2 on a usage error.
)"));
  return text->c_str();
}

absl::StatusOr<ServeCommand::Flags> ServeCommand::ParseFlags(const std::vector<std::string>& args) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--plugins-outlive-clients") {
      flags.server.plugins_outlive_clients = true;
      continue;
    }
    if (arg == "--share-plugins") {
      flags.server.share_plugins_between_clients = true;
      continue;
    }
    if (arg == "--no-direct-channels") {
      flags.server.allow_direct_channels = false;
      continue;
    }
    if (cli::AuditLogFlags::Handles(arg)) {
      std::string value;
      if (cli::AuditLogFlags::TakesValue(arg)) {
        if (i + 1 >= args.size())
          return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
        value = args[++i];
      }
      if (absl::Status s = flags.audit.Set(arg, value); !s.ok()) return s;
      continue;
    }
    if (arg != "--control-socket" && arg != "--allow-uid" && arg != "--allow-gid" &&
        arg != "--max-clients" && arg != "--socket-mode") {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument '", arg, "'"));
    }
    if (i + 1 >= args.size())
      return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
    const std::string& value = args[++i];
    uint32_t n = 0;
    if (arg == "--control-socket") {
      flags.server.socket_path = value;
    } else if (arg == "--socket-mode") {
      char* end = nullptr;
      unsigned long mode = strtoul(value.c_str(), &end, 8);  // NOLINT(runtime/int)
      if (value.empty() || *end != '\0' || mode > 0777) {
        return absl::InvalidArgumentError(
            absl::StrCat("--socket-mode '", value, "' is not an octal mode like 0660"));
      }
      flags.server.socket_mode = static_cast<mode_t>(mode);
    } else if (arg == "--allow-uid" || arg == "--allow-gid") {
      absl::StatusOr<uint32_t> id = IdFor(arg, value);
      if (!id.ok()) return id.status();
      (arg == "--allow-uid" ? flags.server.allow_uids : flags.server.allow_gids).insert(*id);
    } else if (!absl::SimpleAtoi(value, &n) || n == static_cast<uint32_t>(-1)) {
      return absl::InvalidArgumentError(absl::StrCat(arg, " '", value, "' is not a number"));
    } else if (arg == "--max-clients") {
      if (n == 0) return absl::InvalidArgumentError("--max-clients must be at least 1");
      flags.server.max_clients = n;
    }
  }
  if (flags.server.socket_path.empty()) {
    return absl::InvalidArgumentError("--control-socket PATH is required");
  }
  if (absl::Status s = flags.audit.Validate(); !s.ok()) return s;
  return flags;
}

int ServeCommand::Main(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "-h" || a == "--help") {
      std::cout << Usage();
      return 0;
    }
  }
  absl::StatusOr<Flags> flags = ParseFlags(args);
  if (!flags.ok()) return Fail(absl::StrCat(flags.status().message(), "\n", Usage()));
#ifdef CORDON_VERSION
  flags->server.version = CORDON_VERSION;
#endif

  // Under --audit-on-failure kill and stop, a failed audit log kills every plugin at once
  // (the enforcer; declared first so that it outlives the log and the server). Under kill the
  // daemon runs on, listing them as failed and refusing new loads; under stop it also stops.
  host::AuditFailureEnforcer enforcer;
  std::unique_ptr<audit::AuditLog> audit_log;
  // Set when the audit log failed under --audit-on-failure stop: the loop below then stops
  // the daemon as SIGTERM would, and the exit status says why.
  static std::atomic<bool> audit_stop{false};
  if (flags->audit.enabled()) {
    audit::AuditLogOptions options = flags->audit.options();
    options.on_failure_callback =
        enforcer.Callback([](const absl::Status& status, audit::OnWriteFailure policy) {
          std::cerr << "cordon serve: audit log failed: " << status.message() << "\n";
          if (policy == audit::OnWriteFailure::kStopLauncher) {
            audit_stop = true;
            OnSignal(SIGTERM);
          }
        });
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> opened = audit::AuditLog::Open(options);
    if (!opened.ok()) return Fail(std::string(opened.status().message()), 1);
    audit_log = std::move(*opened);
    flags->server.audit_log = audit_log.get();
    flags->server.audit_failure_enforcer = &enforcer;
  }

  // Plugin logs to stderr (the journal under systemd), one escaped line each.
  flags->server.log_sink = [](const std::string& plugin_id, const broker::LogEntry& entry) {
    std::cerr << absl::StrCat("cordon serve: plugin ", plugin_id, " log: ", entry.ToLine(), "\n")
              << std::flush;
  };

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return Fail("pipe2 failed", 1);
  ipc::UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  g_signal_pipe_write = write_end.get();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A client vanishing mid-send must not kill the daemon.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<ControlServer>> server = ControlServer::Start(flags->server);
  if (!server.ok()) return Fail(std::string(server.status().message()), 1);
  std::cerr << "cordon serve: listening on " << (*server)->socket_path() << "\n";

  char c;
  while (read(read_end.get(), &c, 1) < 0 && errno == EINTR) {
  }
  std::cerr << "cordon serve: stopping, unloading " << (*server)->plugin_count() << " plugin(s)\n";
  (*server)->Stop();
  if (audit_log != nullptr) (void)audit_log->Flush();
  if (audit_stop) {
    std::cerr << "cordon serve: stopped because the audit log could not be written "
                 "(--audit-on-failure stop)\n";
    return 1;
  }
  return 0;
}

}  // namespace cordon::serve
