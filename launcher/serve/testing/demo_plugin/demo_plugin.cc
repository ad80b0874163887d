// A plugin for the serve/Go tests and the Go example that misbehaves on request: "fail"
// returns a structured error, "crash" aborts, "hang" never answers, "read" opens the path
// given as input (only what the sandbox view shows), "inet" tries an AF_INET socket (outside
// the seccomp allowlist: denied and audited as seccomp.violation).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "sdk/cpp/plugin.h"

namespace {

using cordon::ipc::Payload;
using cordon::sdk::CallContext;
using Result = absl::StatusOr<Payload>;

Result Read(const CallContext&, const Payload& in) {
  std::string path = in.ToString();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("open ", path, ": ", strerror(errno), " (not in this plugin's view)"));
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0 && out.size() < (1u << 20)) out.append(buf, n);
  close(fd);
  return out;
}

Result Inet(const CallContext&, const Payload&) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("socket(AF_INET): ", strerror(errno)));
  }
  close(fd);
  return std::string("socket(AF_INET) succeeded");
}

}  // namespace

int main() {
  cordon::sdk::Plugin::Options options;
  options.name = "demo";
  options.version = "0.2.0";
  cordon::sdk::Plugin plugin(options);
  plugin.Register("echo",
                  [](const CallContext&, const Payload& in) -> Result { return in.ToString(); });
  plugin.Register("upper", [](const CallContext&, const Payload& in) -> Result {
    std::string s = in.ToString();
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return toupper(c); });
    return s;
  });
  plugin.Register("fail", [](const CallContext&, const Payload& in) -> Result {
    return absl::InvalidArgumentError(absl::StrCat("demo refuses input '", in.ToString(), "'"));
  });
  plugin.Register("crash", [](const CallContext&, const Payload&) -> Result { abort(); });
  plugin.Register("hang", [](const CallContext&, const Payload&) -> Result {
    for (;;) pause();
  });
  plugin.Register("read", Read);
  plugin.Register("inet", Inet);
  return plugin.Main();
}
