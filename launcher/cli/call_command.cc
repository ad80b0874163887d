#include "launcher/cli/call_command.h"

#include <atomic>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "audit/audit_log.h"
#include "launcher/cli/run_flags.h"
#include "launcher/host/audit_failure_enforcer.h"
#include "launcher/host/loaded_plugin.h"

namespace cordon::cli {
namespace {

constexpr uint64_t kMaxInputBytes = uint64_t{1} << 30;

int Fail(const std::string& message, int status = 125) {
  std::cerr << "cordon call: " << message << "\n";
  return status;
}

}  // namespace

const char* CallCommand::Usage() {
  static const std::string* const text =
      new std::string(absl::StrCat(R"(usage: cordon call [OPTIONS] BUNDLE METHOD

Loads the plugin bundle BUNDLE (a directory with manifest.textproto) in a sandbox, performs
the handshake, calls METHOD once and writes the result bytes to stdout. Log lines the plugin
sends (with the `log` grant) go to stderr, one escaped line each:
  cordon call: plugin log: LEVEL message key="value" ...

Options:
  --profile NAME|PATH   profile bounding the plugin (default: "default")
  --input FILE          call input read from FILE ("-" for stdin; default: empty)
  --config TEXT         host configuration passed to the plugin
  --timeout DURATION    call deadline (default: the manifest's call_timeout_ms, else 30s)
)",
                                   AuditLogFlags::Help(), R"(  -h, --help            this text

Exit status: 0 on success; 1 when the plugin returned an error or failed during the call
(the message names the plugin and the reason), or when the audit log failed under
--audit-on-failure stop; 125 when the plugin could not be loaded.
)"));
  return text->c_str();
}

int CallCommand::Main(const std::vector<std::string>& args) {
  std::string profile = "default", input_file, config;
  AuditLogFlags audit_flags;
  absl::Duration timeout = absl::ZeroDuration();
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << Usage();
      return 0;
    }
    if (AuditLogFlags::Handles(arg)) {
      std::string value;
      if (AuditLogFlags::TakesValue(arg)) {
        if (i + 1 >= args.size()) return Fail(absl::StrCat(arg, " needs a value"));
        value = args[++i];
      }
      if (absl::Status s = audit_flags.Set(arg, value); !s.ok()) {
        return Fail(std::string(s.message()));
      }
      continue;
    }
    if (arg == "--profile" || arg == "--input" || arg == "--config" || arg == "--timeout") {
      if (i + 1 >= args.size()) return Fail(absl::StrCat(arg, " needs a value"));
      const std::string& value = args[++i];
      if (arg == "--profile") profile = value;
      if (arg == "--input") input_file = value;
      if (arg == "--config") config = value;
      if (arg == "--timeout") {
        absl::StatusOr<uint64_t> ms = ParseDurationMs(arg, value);
        if (!ms.ok()) return Fail(std::string(ms.status().message()));
        timeout = absl::Milliseconds(*ms);
      }
      continue;
    }
    if (arg.starts_with("--")) return Fail(absl::StrCat("unknown option '", arg, "'; see --help"));
    positional.push_back(arg);
  }
  if (positional.size() != 2) return Fail("expected BUNDLE METHOD; see cordon call --help");
  if (absl::Status s = audit_flags.Validate(); !s.ok()) return Fail(std::string(s.message()));

  std::string input;
  if (!input_file.empty()) {
    std::ifstream stream;
    std::istream* in = &std::cin;
    if (input_file != "-") {
      stream.open(input_file, std::ios::binary);
      if (!stream) return Fail(absl::StrCat("cannot read --input file '", input_file, "'"));
      in = &stream;
    }
    std::ostringstream buffer;
    buffer << in->rdbuf();
    input = buffer.str();
    if (input.size() > kMaxInputBytes) return Fail("--input is larger than 1 GiB");
  }

  // The log's failure policy: "kill" and "stop" kill the plugin (the enforcer), "stop" also
  // makes this command fail whatever the call returned; "deny" refuses only what needs a
  // record (the plugin's broker requests, its shutdown steps).
  host::AuditFailureEnforcer enforcer;
  std::atomic<bool> audit_stop{false};
  std::unique_ptr<audit::AuditLog> log;
  if (audit_flags.enabled()) {
    audit::AuditLogOptions options = audit_flags.options();
    options.on_failure_callback =
        enforcer.Callback([&audit_stop](const absl::Status& status, audit::OnWriteFailure policy) {
          std::cerr << "cordon call: audit log failed: " << status.message() << "\n";
          if (policy == audit::OnWriteFailure::kStopLauncher) audit_stop = true;
        });
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> opened = audit::AuditLog::Open(options);
    if (!opened.ok()) return Fail(absl::StrCat("audit log: ", opened.status().message()));
    log = std::move(*opened);
  }
  host::LoadRequest request;
  request.bundle_dir = positional[0];
  request.profile = profile;
  request.config = config;
  request.audit_log = log.get();
  request.audit_failure_enforcer = &enforcer;
  // Plugin log lines (those the grant and rate limit let through) go to stderr, one escaped
  // line each with level and fields; stdout stays the result's alone.
  request.log_sink = [](const broker::LogEntry& entry) {
    std::cerr << absl::StrCat("cordon call: plugin log: ", entry.ToLine(), "\n") << std::flush;
  };
  absl::StatusOr<std::unique_ptr<host::LoadedPlugin>> plugin = host::LoadedPlugin::Load(request);
  if (!plugin.ok()) return Fail(std::string(plugin.status().message()));
  absl::StatusOr<std::string> result = (*plugin)->Call(positional[1], input, timeout);
  absl::Status stopped = (*plugin)->Shutdown(absl::Seconds(5));
  if (!result.ok()) return Fail(std::string(result.status().message()), 1);
  if (audit_stop) {
    return Fail("stopped because the audit log could not be written (--audit-on-failure stop)", 1);
  }
  std::cout.write(result->data(), static_cast<std::streamsize>(result->size()));
  std::cout.flush();
  if (!stopped.ok()) std::cerr << "cordon call: " << stopped.message() << "\n";
  return 0;
}

}  // namespace cordon::cli
