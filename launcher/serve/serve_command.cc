#include "launcher/serve/serve_command.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "audit/audit_log.h"
#include "ipc/unique_fd.h"

namespace cordon::serve {
namespace {

// Written by the signal handler, read by Main: a self-pipe keeps the signal mask untouched,
// so plugins spawned by the daemon never inherit blocked signals.
int g_signal_pipe_write = -1;

void OnSignal(int) {
  const char c = 's';
  (void)!write(g_signal_pipe_write, &c, 1);
}

int Fail(const std::string& message, int status = 2) {
  std::cerr << "cordon serve: " << message << "\n";
  return status;
}

}  // namespace

const char* ServeCommand::Usage() {
  return R"(usage: cordon serve --control-socket PATH [OPTIONS]

Runs the cordon daemon: host applications in any language (sdk/go) connect to the unix
SOCK_SEQPACKET control socket PATH and load, call, list and unload sandboxed plugins with the
cordon.v1 control API (ipc/proto/cordon/v1/control.proto). Stops on SIGINT/SIGTERM, unloading
every plugin.

Options:
  --control-socket PATH       where to listen (an existing stale socket file is replaced)
  --allow-uid N               admit clients with uid N (repeatable)
  --allow-gid N               admit clients with primary or supplementary gid N (repeatable)
                              (neither given: only the daemon's own uid is admitted)
  --audit-log PATH            hash-chained audit log (refused clients, loads, plugin records)
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
  -h, --help                  this text

Exit status: 0 after a clean stop; 1 when the daemon could not start; 2 on a usage error.
)";
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
    if (arg != "--control-socket" && arg != "--allow-uid" && arg != "--allow-gid" &&
        arg != "--audit-log" && arg != "--max-clients" && arg != "--socket-mode") {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument '", arg, "'"));
    }
    if (i + 1 >= args.size())
      return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
    const std::string& value = args[++i];
    uint32_t n = 0;
    if (arg == "--control-socket") {
      flags.server.socket_path = value;
    } else if (arg == "--audit-log") {
      flags.audit_log_path = value;
    } else if (arg == "--socket-mode") {
      char* end = nullptr;
      unsigned long mode = strtoul(value.c_str(), &end, 8);  // NOLINT(runtime/int)
      if (value.empty() || *end != '\0' || mode > 0777) {
        return absl::InvalidArgumentError(
            absl::StrCat("--socket-mode '", value, "' is not an octal mode like 0660"));
      }
      flags.server.socket_mode = static_cast<mode_t>(mode);
    } else if (!absl::SimpleAtoi(value, &n) || n == static_cast<uint32_t>(-1)) {
      return absl::InvalidArgumentError(absl::StrCat(arg, " '", value, "' is not a number"));
    } else if (arg == "--allow-uid") {
      flags.server.allow_uids.insert(n);
    } else if (arg == "--allow-gid") {
      flags.server.allow_gids.insert(n);
    } else if (arg == "--max-clients") {
      if (n == 0) return absl::InvalidArgumentError("--max-clients must be at least 1");
      flags.server.max_clients = n;
    }
  }
  if (flags.server.socket_path.empty()) {
    return absl::InvalidArgumentError("--control-socket PATH is required");
  }
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

  std::unique_ptr<audit::AuditLog> audit_log;
  if (!flags->audit_log_path.empty()) {
    audit::AuditLogOptions options;
    options.path = flags->audit_log_path;
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> opened = audit::AuditLog::Open(options);
    if (!opened.ok()) return Fail(std::string(opened.status().message()), 1);
    audit_log = std::move(*opened);
    flags->server.audit_log = audit_log.get();
  }

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
  return 0;
}

}  // namespace cordon::serve
