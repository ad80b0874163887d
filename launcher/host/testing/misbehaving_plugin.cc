// A plugin for the host tests whose bad behaviour is chosen by its arguments (the manifest's
// args): --protocol=MIN-MAX, --name=NAME, --version=SEMVER (what its Hello announces),
// --silent (never says hello), --no-data-channel (offers no data channels, as a plugin built
// before they existed), --refuse-config (answers the Welcome with Ready{error}, then stays
// alive, so the host alone decides what follows), --raw=BEATS (does the handshake by hand,
// sends BEATS heartbeats at once and then nothing: alive but silent, deaf to calls and to
// the shutdown request). Its methods: "echo", "crash" (aborts), "hang" (never answers),
// "exit" (exits 7 mid-call), "rogue_open" (sends the host a data_channel_open of its own,
// which only the host may send), "slow" (answers "done" after the input's milliseconds),
// "limits" (the serialized PluginLimits its Welcome carried), "open_loop" (up to N broker
// opens of a path it was never granted, each one a denied capability.use record, until the
// host answers UNAVAILABLE because the record could not be written), "fill_tmp" (writes
// /tmp/fill until the tmpfs is full, answers the bytes written), "burn" (burns CPU until the
// process has used the input's milliseconds of it), "keyctl" (a syscall every profile
// refuses).
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ipc/seqpacket_channel.h"
#include "sdk/cpp/plugin.h"

namespace {

int ChannelFd() {
  const char* fd = std::getenv("CORDON_CHANNEL_FD");
  return fd != nullptr ? std::atoi(fd) : 3;
}

[[noreturn]] void PauseForever() {
  for (;;) pause();
}

// Hello → Welcome → Ready by hand, `beats` heartbeats, then silence while staying alive.
[[noreturn]] void RawHandshakeThenSilence(const cordon::sdk::Plugin::Options& options, int beats) {
  cordon::ipc::SeqpacketChannel channel{cordon::ipc::UniqueFd(ChannelFd())};
  cordon::v1::Envelope hello;
  hello.mutable_hello()->mutable_protocol()->set_min(options.protocol.min);
  hello.mutable_hello()->mutable_protocol()->set_max(options.protocol.max);
  hello.mutable_hello()->set_name(options.name);
  hello.mutable_hello()->set_version(options.version);
  hello.mutable_hello()->add_methods("echo");
  if (!channel.Send(hello.SerializeAsString()).ok()) _exit(2);
  if (!channel.Receive(absl::Now() + absl::Seconds(30)).ok()) _exit(3);
  cordon::v1::Envelope ready;
  ready.mutable_ready();
  if (!channel.Send(ready.SerializeAsString()).ok()) _exit(4);
  for (int i = 1; i <= beats; ++i) {
    cordon::v1::Envelope beat;
    beat.mutable_heartbeat()->set_seq(static_cast<uint64_t>(i));
    if (!channel.Send(beat.SerializeAsString()).ok()) _exit(5);
  }
  PauseForever();
}

}  // namespace

int main(int argc, char** argv) {
  cordon::sdk::Plugin::Options options;
  options.name = "misbehaving";
  options.version = "0.1.0";
  bool refuse_config = false;
  int raw_beats = -1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--protocol=", 0) == 0) {
      options.protocol.min = static_cast<uint32_t>(std::atoi(arg.c_str() + 11));
      options.protocol.max = static_cast<uint32_t>(std::atoi(strchr(arg.c_str() + 11, '-') + 1));
    } else if (arg.rfind("--name=", 0) == 0) {
      options.name = arg.substr(7);
    } else if (arg.rfind("--version=", 0) == 0) {
      options.version = arg.substr(10);
    } else if (arg.rfind("--raw=", 0) == 0) {
      raw_beats = std::atoi(arg.c_str() + 6);
    } else if (arg == "--no-data-channel") {
      options.max_data_channels = 0;
    } else if (arg == "--refuse-config") {
      refuse_config = true;
    } else if (arg == "--silent") {
      PauseForever();  // never speaks: the host's handshake timeout must fire
    }
  }
  if (raw_beats >= 0) RawHandshakeThenSilence(options, raw_beats);
  cordon::sdk::Plugin plugin(options);
  if (refuse_config) {
    plugin.OnConfigure([](const cordon::v1::Welcome&) {
      return absl::InvalidArgumentError("this configuration is refused by the test plugin");
    });
  }
  plugin.Register("echo",
                  [](const cordon::sdk::CallContext&, const cordon::ipc::Payload& in)
                      -> absl::StatusOr<cordon::ipc::Payload> { return in.ToString(); });
  plugin.Register(
      "crash",
      [](const cordon::sdk::CallContext&,
         const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> { abort(); });
  plugin.Register(
      "hang",
      [](const cordon::sdk::CallContext&,
         const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> { PauseForever(); });
  plugin.Register(
      "exit",
      [](const cordon::sdk::CallContext&,
         const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> { _exit(7); });
  plugin.Register("rogue_open",
                  [](const cordon::sdk::CallContext&,
                     const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> {
                    cordon::v1::Envelope env;
                    env.mutable_data_channel_open()->set_channel_id(1);
                    std::string bytes = env.SerializeAsString();
                    if (send(ChannelFd(), bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) {
                      return absl::InternalError("send failed");
                    }
                    PauseForever();  // the host kills this plugin for it
                  });
  plugin.Register("slow",
                  [](const cordon::sdk::CallContext&,
                     const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
                    int64_t ms = 0;
                    if (!absl::SimpleAtoi(in.data(), &ms)) {
                      return absl::InvalidArgumentError("slow wants milliseconds");
                    }
                    absl::SleepFor(absl::Milliseconds(ms));  // the work being timed
                    return std::string("done");
                  });
  plugin.Register("limits",
                  [&plugin](const cordon::sdk::CallContext&,
                            const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> {
                    return plugin.limits().SerializeAsString();
                  });
  plugin.Register(
      "open_loop",
      [&plugin](const cordon::sdk::CallContext&,
                const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
        int count = 0;
        if (!absl::SimpleAtoi(in.data(), &count)) return absl::InvalidArgumentError("a count");
        for (int i = 1; i <= count; ++i) {
          auto fd = plugin.OpenFile("/never-granted", cordon::v1::OpenFileRequest::READ);
          if (absl::IsUnavailable(fd.status())) {
            return absl::StrCat("audit refused request ", i, ": ", fd.status().message());
          }
        }
        return absl::StrCat("no audit refusal in ", count, " requests");
      });
  plugin.Register("fill_tmp",
                  [](const cordon::sdk::CallContext&,
                     const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> {
                    int fd = open("/tmp/fill", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                    if (fd < 0) return absl::ErrnoToStatus(errno, "open /tmp/fill");
                    static const char kChunk[64 * 1024] = {};
                    uint64_t written = 0;
                    for (;;) {
                      ssize_t n = write(fd, kChunk, sizeof(kChunk));
                      if (n > 0) {
                        written += static_cast<uint64_t>(n);
                        continue;
                      }
                      const int error = errno;
                      close(fd);
                      if (n < 0 && error == ENOSPC) return absl::StrCat("filled ", written);
                      return absl::ErrnoToStatus(error, "write /tmp/fill");
                    }
                  });
  plugin.Register("burn",
                  [](const cordon::sdk::CallContext&,
                     const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
                    int64_t ms = 0;
                    if (!absl::SimpleAtoi(in.data(), &ms)) {
                      return absl::InvalidArgumentError("burn wants milliseconds");
                    }
                    for (;;) {
                      struct timespec used {};
                      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &used);
                      if (used.tv_sec * 1000 + used.tv_nsec / 1000000 >= ms) break;
                    }
                    return std::string("burnt");
                  });
  // Reads stdin (the host gives /dev/null: 0 bytes), writes "out:<input>" to stdout,
  // "err:<input>" to stderr and "tail" without a newline to stderr.
  plugin.Register("stdio",
                  [](const cordon::sdk::CallContext&,
                     const cordon::ipc::Payload& in) -> absl::StatusOr<cordon::ipc::Payload> {
                    char c;
                    const ssize_t got = read(STDIN_FILENO, &c, 1);
                    const std::string out = absl::StrCat("out:", in.data(), "\n");
                    const std::string err = absl::StrCat("err:", in.data(), "\ntail");
                    if (write(STDOUT_FILENO, out.data(), out.size()) < 0 ||
                        write(STDERR_FILENO, err.data(), err.size()) < 0) {
                      return absl::ErrnoToStatus(errno, "write stdout/stderr");
                    }
                    return absl::StrCat("stdin read ", got);
                  });
  plugin.Register("keyctl",
                  [](const cordon::sdk::CallContext&,
                     const cordon::ipc::Payload&) -> absl::StatusOr<cordon::ipc::Payload> {
                    const long rc = syscall(SYS_keyctl, 0, 0, 0, 0, 0);
                    return absl::StrCat("keyctl returned ", rc, " errno ", errno);
                  });
  absl::Status served = plugin.Serve();
  if (refuse_config && !served.ok()) PauseForever();
  return served.ok() ? 0 : 1;
}
