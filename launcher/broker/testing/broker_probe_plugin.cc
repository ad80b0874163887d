// A plugin for the broker's end-to-end test: each method exercises one broker request through
// the C++ SDK and returns what it got, so the host side can check the whole path (manifest →
// grants → sandbox → SDK → channel → broker → fd back).
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "sdk/cpp/plugin.h"

namespace {

absl::StatusOr<std::string> ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) return absl::ErrnoToStatus(errno, "read");
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

int main() {
  cordon::sdk::Plugin::Options options;
  options.name = "broker-probe";
  options.version = "0.1.0";
  options.protocol = {1, 1};
  cordon::sdk::Plugin plugin(options);
  // input: a plugin-visible path; output: the file's bytes.
  plugin.Register("read",
                  [&](const cordon::sdk::CallContext&,
                      const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
                    absl::StatusOr<cordon::ipc::UniqueFd> fd =
                        plugin.OpenFile(in.ToString(), cordon::v1::OpenFileRequest::READ);
                    if (!fd.ok()) return fd.status();
                    absl::StatusOr<std::string> data = ReadAll(fd->get());
                    if (!data.ok()) return data.status();
                    return cordon::ipc::Payload(*data);
                  });
  // input: an endpoint; sends "ping", returns the peer's answer.
  plugin.Register("connect",
                  [&](const cordon::sdk::CallContext&,
                      const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
                    absl::StatusOr<cordon::ipc::UniqueFd> fd = plugin.Connect(in.ToString());
                    if (!fd.ok()) return fd.status();
                    if (write(fd->get(), "ping", 4) != 4)
                      return absl::ErrnoToStatus(errno, "write");
                    char buf[64];
                    ssize_t n = read(fd->get(), buf, sizeof(buf));
                    if (n < 0) return absl::ErrnoToStatus(errno, "read");
                    return cordon::ipc::Payload(std::string(buf, static_cast<size_t>(n)));
                  });
  // input: "FUNCTION:BYTES"; output: the host function's result.
  plugin.Register("host",
                  [&](const cordon::sdk::CallContext&,
                      const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
                    std::pair<std::string, std::string> parts =
                        absl::StrSplit(in.ToString(), absl::MaxSplits(':', 1));
                    absl::StatusOr<std::string> out =
                        plugin.CallHost(parts.first, parts.second, absl::Seconds(2));
                    if (!out.ok()) return out.status();
                    return cordon::ipc::Payload(*out);
                  });
  // input: a message; logs it with a field.
  plugin.Register(
      "log",
      [&](const cordon::sdk::CallContext&,
          const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
        absl::Status s = plugin.Log(cordon::v1::LogMessage::WARNING, in.ToString(), {{"k", "v"}});
        if (!s.ok()) return s;
        return cordon::ipc::Payload("logged");
      });
  // input: "N MS"; logs N lines (structured, through the broker) as fast as it can, then
  // keeps working for MS milliseconds without reading its channel, like a handler that logs
  // progress and computes; output: "logged N".
  plugin.Register(
      "chatty",
      [&](const cordon::sdk::CallContext&,
          const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
        std::pair<std::string, std::string> parts =
            absl::StrSplit(in.ToString(), absl::MaxSplits(' ', 1));
        int n = 0, ms = 0;
        if (!absl::SimpleAtoi(parts.first, &n) || !absl::SimpleAtoi(parts.second, &ms) || n < 0 ||
            n > 100000 || ms < 0 || ms > 60000) {
          return absl::InvalidArgumentError("chatty wants N MS");
        }
        for (int i = 0; i < n; ++i) {
          absl::Status s = plugin.Log(cordon::v1::LogMessage::INFO, absl::StrCat("step ", i),
                                      {{"i", absl::StrCat(i)}});
          if (!s.ok()) return s;
        }
        absl::SleepFor(absl::Milliseconds(ms));  // the work; the channel goes unread meanwhile
        return cordon::ipc::Payload(absl::StrCat("logged ", n));
      });
  // input: "N PATH"; opens PATH N times as fast as it can, ignoring refusals (a plugin that
  // keeps hammering the broker); output: "ok=A refused=R other=O".
  plugin.Register("flood",
                  [&](const cordon::sdk::CallContext&,
                      const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
                    std::pair<std::string, std::string> parts =
                        absl::StrSplit(in.ToString(), absl::MaxSplits(' ', 1));
                    int n = 0;
                    if (!absl::SimpleAtoi(parts.first, &n) || n < 0 || n > 100000) {
                      return absl::InvalidArgumentError("flood wants N PATH");
                    }
                    int ok = 0, refused = 0, other = 0;
                    for (int i = 0; i < n; ++i) {
                      absl::StatusOr<cordon::ipc::UniqueFd> fd =
                          plugin.OpenFile(parts.second, cordon::v1::OpenFileRequest::READ);
                      if (fd.ok()) {
                        ++ok;
                      } else if (absl::IsResourceExhausted(fd.status())) {
                        ++refused;
                      } else {
                        ++other;
                      }
                    }
                    return cordon::ipc::Payload(
                        absl::StrCat("ok=", ok, " refused=", refused, " other=", other));
                  });
  return plugin.Main();
}
