// A hostile plugin for the adversarial suite (tests/adversarial/run_suite.py): every method is
// one attack on the launcher's broker or on the host side of the plugin channel, run from inside
// a real sandbox through `cordon call`. The harness chooses the targets (the call input, one
// probe per line) and judges the outcome; this program only tries and reports facts, one line
// per probe:
//
//   PROBE <n> denied <code> <message>
//   PROBE <n> opened type=<reg|dir|fifo|...> acc=<rdonly|wronly|rdwr> opath=<0|1>
//         cloexec=<0|1> write=<ok|errno name> data="<first bytes, escaped>"
//   PROBE <n> connected peer=<family>
//
// Reporting the bytes an open returned is what lets the harness catch an escape: a file from
// outside the grant holds the harness's secret, and it would show up here.
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cordon/v1/envelope.pb.h"
#include "sdk/cpp/plugin.h"

namespace {

using cordon::ipc::Payload;
using cordon::ipc::UniqueFd;
using cordon::sdk::CallContext;
using cordon::sdk::Plugin;
using cordon::v1::BrokerRequest;
using cordon::v1::Envelope;
using cordon::v1::OpenFileRequest;

constexpr int kChannelFd = 3;
// Bounds on what one call may ask for: the harness is trusted, but a typo must not turn an
// attack into a hang.
constexpr int kMaxRepeat = 5000;
constexpr size_t kShownBytes = 64;

Plugin* g_plugin = nullptr;

std::string Escape(absl::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes.substr(0, kShownBytes)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
  }
  return out;
}

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : absl::StrCat("errno", err);
}

std::string Denied(int n, const absl::Status& s) {
  std::string message(s.message());
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  return absl::StrFormat("PROBE %d denied %s %s\n", n, absl::StatusCodeToString(s.code()), message);
}

// What an fd the broker handed back really is, and whether the plugin can do more with it than
// the grant said (write through a read grant, an O_PATH handle, a directory to walk from).
std::string Describe(int n, int fd) {
  struct stat st {};
  std::string type = "?";
  if (fstat(fd, &st) == 0) {
    type = S_ISREG(st.st_mode)    ? "reg"
           : S_ISDIR(st.st_mode)  ? "dir"
           : S_ISFIFO(st.st_mode) ? "fifo"
           : S_ISLNK(st.st_mode)  ? "lnk"
           : S_ISSOCK(st.st_mode) ? "sock"
                                  : "other";
  }
  int fl = fcntl(fd, F_GETFL);
  int fdfl = fcntl(fd, F_GETFD);
  const char* acc = (fl & O_ACCMODE) == O_RDONLY   ? "rdonly"
                    : (fl & O_ACCMODE) == O_WRONLY ? "wronly"
                                                   : "rdwr";
  // A zero-byte write changes nothing but still fails with EBADF on an fd not open for writing.
  std::string write_result = ::write(fd, "", 0) == 0 ? "ok" : ErrnoName(errno);
  char buf[kShownBytes];
  ssize_t got = S_ISREG(st.st_mode) ? ::pread(fd, buf, sizeof(buf), 0) : -1;
  std::string data = got > 0 ? Escape(absl::string_view(buf, static_cast<size_t>(got))) : "";
  return absl::StrFormat(
      "PROBE %d opened type=%s acc=%s opath=%d cloexec=%d write=%s data=\"%s\"\n", n, type, acc,
      (fl & O_PATH) ? 1 : 0, (fdfl & FD_CLOEXEC) ? 1 : 0, write_result, data);
}

// Spec: comma-separated read|write|rw|unspec|mode=N, create, truncate, append, unknown.
// `unknown` appends a field the schema does not have (number 6, as if it were raw open(2)
// flags) carrying O_PATH|O_TMPFILE|O_RDWR|O_CREAT, to see whether anything on the host side
// passes unparsed bytes through to open.
BrokerRequest OpenRequest(absl::string_view spec, absl::string_view path) {
  BrokerRequest req;
  OpenFileRequest* open = req.mutable_open_file();
  open->set_path(std::string(path));
  for (absl::string_view tok : absl::StrSplit(spec, ',')) {
    int mode = 0;
    if (tok == "read") open->set_mode(OpenFileRequest::READ);
    if (tok == "write") open->set_mode(OpenFileRequest::WRITE);
    if (tok == "rw") open->set_mode(OpenFileRequest::READ_WRITE);
    if (tok == "unspec") open->set_mode(OpenFileRequest::MODE_UNSPECIFIED);
    if (absl::ConsumePrefix(&tok, "mode=") && absl::SimpleAtoi(tok, &mode)) {
      open->set_mode(static_cast<OpenFileRequest::Mode>(mode));
    }
    if (tok == "create") open->set_create(true);
    if (tok == "truncate") open->set_truncate(true);
    if (tok == "append") open->set_append(true);
    if (tok == "unknown") {
      // Field 6 (unknown to the schema), varint, merged in as wire bytes: the message keeps it
      // as an unknown field and sends it on.
      uint64_t value = O_PATH | __O_TMPFILE | O_RDWR | O_CREAT;
      std::string wire(1, static_cast<char>(6 << 3));
      do {
        wire.push_back(static_cast<char>((value & 0x7f) | (value > 0x7f ? 0x80 : 0)));
        value >>= 7;
      } while (value != 0);
      if (!open->MergeFromString(wire)) std::abort();
    }
  }
  return req;
}

absl::StatusOr<UniqueFd> Open(const BrokerRequest& req) {
  auto reply = g_plugin->Broker(req, absl::Seconds(10));
  if (!reply.ok()) return reply.status();
  uint32_t index = reply->response.open_file().fd_index();
  if (!reply->response.has_open_file() || index >= reply->fds.size()) {
    return absl::InternalError("broker answered open_file without an fd");
  }
  return std::move(reply->fds[index]);
}

std::vector<std::string> Lines(const Payload& in) {
  return absl::StrSplit(in.ToString(), '\n', absl::SkipEmpty());
}

// open: one "SPEC PATH" per line; each is one broker open request.
absl::StatusOr<Payload> OpenProbes(const CallContext&, const Payload& in) {
  std::string out;
  int n = 0;
  for (const std::string& line : Lines(in)) {
    std::pair<std::string, std::string> sp = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    absl::StatusOr<UniqueFd> fd = Open(OpenRequest(sp.first, sp.second));
    out += fd.ok() ? Describe(n, fd->get()) : Denied(n, fd.status());
    ++n;
  }
  return out;
}

// reopen: one granted PATH per line. Opens it read-only through the broker, then tries to turn
// that fd into more through the plugin's own /proc magic links: reopen it for writing (and
// write), and walk from it to a sibling outside the grant.
absl::StatusOr<Payload> Reopen(const CallContext&, const Payload& in) {
  std::string out;
  int n = 0;
  for (const std::string& line : Lines(in)) {
    absl::StatusOr<UniqueFd> fd = Open(OpenRequest("read", line));
    if (!fd.ok()) {
      out += Denied(n++, fd.status());
      continue;
    }
    std::string link = absl::StrCat("/proc/self/fd/", fd->get());
    char target[256] = {};
    ssize_t len = readlink(link.c_str(), target, sizeof(target) - 1);
    absl::StrAppendFormat(&out, "NOTE probe %d: %s -> %s\n", n, link,
                          len > 0 ? Escape(absl::string_view(target, len)) : ErrnoName(errno));
    for (int flags : {O_RDWR, O_WRONLY | O_APPEND, O_WRONLY | O_TRUNC}) {
      int w = open(link.c_str(), flags | O_CLOEXEC | O_NOFOLLOW);
      if (w < 0 && errno == ELOOP) w = open(link.c_str(), flags | O_CLOEXEC);
      if (w < 0) {
        absl::StrAppendFormat(&out, "PROBE %d refused reopen flags=0%o %s\n", n, flags,
                              ErrnoName(errno));
      } else {
        // A real attacker would write here; so does this one, and the harness sees it.
        ssize_t wrote = ::write(w, "PWNED-VIA-PROC-FD\n", 18);
        absl::StrAppendFormat(&out, "PROBE %d reopened flags=0%o wrote=%d\n", n, flags,
                              static_cast<int>(wrote));
        close(w);
      }
      ++n;
    }
    for (const char* rel : {"../secret", ".."}) {
      int s = openat(fd->get(), rel, O_RDONLY | O_CLOEXEC);
      if (s < 0) {
        absl::StrAppendFormat(&out, "PROBE %d refused openat(fd,%s) %s\n", n, rel,
                              ErrnoName(errno));
      } else {
        absl::StrAppendFormat(&out, "PROBE %d walked openat(fd,%s)\n", n, rel);
        out += Describe(n, s);
        close(s);
      }
      ++n;
    }
  }
  return out;
}

// race: "COUNT PATH..." on one line. Opens the paths in turn COUNT times in total while the
// harness swaps a directory on the path for a symlink out of the grant. Paces itself on the
// broker's rate limit rather than burning requests into it.
absl::StatusOr<Payload> Race(const CallContext& ctx, const Payload& in) {
  std::vector<std::string> words =
      absl::StrSplit(in.ToString(), absl::ByAnyChar(" \n"), absl::SkipEmpty());
  int count = 0;
  if (words.size() < 2 || !absl::SimpleAtoi(words[0], &count) || count > kMaxRepeat) {
    return absl::InvalidArgumentError("race wants COUNT PATH...");
  }
  std::map<std::string, int> outcomes;  // code or "data:<bytes>"
  int opened = 0, denied = 0, throttled = 0;
  absl::Time until = std::min(ctx.deadline - absl::Seconds(2), absl::Now() + absl::Seconds(8));
  for (int i = 0; i < count && absl::Now() < until; ++i) {
    const std::string& path = words[1 + i % (words.size() - 1)];
    absl::StatusOr<UniqueFd> fd = Open(OpenRequest("read", path));
    if (fd.ok()) {
      ++opened;
      char buf[kShownBytes];
      ssize_t got = ::pread(fd->get(), buf, sizeof(buf), 0);
      ++outcomes[absl::StrCat(
          "data:", got > 0 ? Escape(absl::string_view(buf, static_cast<size_t>(got))) : "")];
    } else if (absl::IsResourceExhausted(fd.status())) {
      ++throttled;
      --i;
      absl::SleepFor(absl::Milliseconds(20));
    } else {
      ++denied;
      ++outcomes[absl::StatusCodeToString(fd.status().code())];
    }
  }
  std::string out =
      absl::StrFormat("RACE opened=%d denied=%d throttled=%d\n", opened, denied, throttled);
  for (const auto& [k, v] : outcomes) absl::StrAppendFormat(&out, "OUTCOME %d %s\n", v, k);
  return out;
}

// connect: one endpoint per line; each is one broker connect request.
absl::StatusOr<Payload> ConnectProbes(const CallContext&, const Payload& in) {
  std::string out;
  int n = 0;
  for (const std::string& endpoint : Lines(in)) {
    absl::StatusOr<UniqueFd> fd = g_plugin->Connect(endpoint, absl::Seconds(10));
    if (!fd.ok()) {
      out += Denied(n++, fd.status());
      continue;
    }
    struct sockaddr_storage peer {};
    socklen_t len = sizeof(peer);
    getpeername(fd->get(), reinterpret_cast<sockaddr*>(&peer), &len);
    ssize_t sent = ::send(fd->get(), "hello from the plugin\n", 22, MSG_NOSIGNAL);
    absl::StrAppendFormat(&out, "PROBE %d connected family=%d sent=%d\n", n++, peer.ss_family,
                          static_cast<int>(sent));
  }
  return out;
}

// flood: "HOLD N FLOOD M LOGS L PATH". Holds up to N brokered fds at once (the held-fds quota),
// then sends M open requests back to back (the request-rate quota), then L log lines (the
// log-rate quota). Counts answers by code.
absl::StatusOr<Payload> Flood(const CallContext&, const Payload& in) {
  std::vector<std::string> w =
      absl::StrSplit(in.ToString(), absl::ByAnyChar(" \n"), absl::SkipEmpty());
  int hold = 0, flood = 0, logs = 0;
  if (w.size() != 7 || !absl::SimpleAtoi(w[1], &hold) || !absl::SimpleAtoi(w[3], &flood) ||
      !absl::SimpleAtoi(w[5], &logs) || hold > kMaxRepeat || flood > kMaxRepeat ||
      logs > kMaxRepeat) {
    return absl::InvalidArgumentError("flood wants HOLD N FLOOD M LOGS L PATH");
  }
  const std::string& path = w[6];
  std::string out;
  auto tally = [&out](const char* phase, int n, const std::map<std::string, int>& codes,
                      absl::Duration took) {
    absl::StrAppendFormat(&out, "%s sent=%d ms=%d", phase, n,
                          static_cast<int>(absl::ToInt64Milliseconds(took)));
    for (const auto& [k, v] : codes) absl::StrAppendFormat(&out, " %s=%d", k, v);
    out += "\n";
  };
  {
    std::vector<UniqueFd> held;
    std::map<std::string, int> codes;
    absl::Time start = absl::Now();
    for (int i = 0; i < hold; ++i) {
      absl::StatusOr<UniqueFd> fd = Open(OpenRequest("read", path));
      ++codes[absl::StatusCodeToString(fd.status().code())];
      if (fd.ok()) held.push_back(std::move(*fd));
    }
    tally("HOLD", hold, codes, absl::Now() - start);
  }
  {
    std::map<std::string, int> codes;
    absl::Time start = absl::Now();
    for (int i = 0; i < flood; ++i) {
      absl::StatusOr<UniqueFd> fd = Open(OpenRequest("read", path));
      ++codes[absl::StatusCodeToString(fd.status().code())];
    }
    tally("FLOOD", flood, codes, absl::Now() - start);
  }
  if (logs > 0) {
    // The channel's own unsolicited-message budget refills meanwhile: this phase is about the
    // broker's log quota, not about being killed as a flooding peer.
    absl::SleepFor(absl::Seconds(1));
    std::map<std::string, int> codes;
    absl::Time start = absl::Now();
    for (int i = 0; i < logs; ++i) {
      absl::Status s = g_plugin->Log(cordon::v1::LogMessage::INFO, absl::StrCat("flood ", i),
                                     {{"i", absl::StrCat(i)}});
      ++codes[absl::StatusCodeToString(s.code())];
    }
    tally("LOGS", logs, codes, absl::Now() - start);
  }
  return out;
}

// Sends bytes straight on the channel, beside the SDK, as a hostile plugin would.
bool SendRaw(const std::string& bytes, const std::vector<int>& fds = {}) {
  std::vector<char> control(fds.empty() ? 0 : CMSG_SPACE(sizeof(int) * fds.size()));
  struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  return ::sendmsg(kChannelFd, &msg, MSG_NOSIGNAL) >= 0;
}

// Waits to be killed: returning would let the SDK answer the call and hide the attack. Bounded,
// so a launcher that misses the attack still gets a (wrong) answer and the harness sees it.
absl::StatusOr<Payload> Linger(const std::string& what) {
  absl::SleepFor(absl::Seconds(10));
  return absl::StrCat("RESULT escaped the host accepted ", what, " and kept the plugin\n");
}

// ipc: input names one attack on the channel; the host must kill the plugin for it.
absl::StatusOr<Payload> IpcAttack(const CallContext& ctx, const Payload& in) {
  std::string attack(absl::StripAsciiWhitespace(in.ToString()));
  Envelope e;
  if (attack == "oversized") {
    SendRaw(std::string(160 << 10, 'A'));
  } else if (attack == "malformed") {
    SendRaw("\x0a\xff\xff\xff\xff\x0f garbage");
  } else if (attack == "length_lie") {
    SendRaw(std::string("\x5a\xff\xff\xff\xff\x07", 6) + "short");
  } else if (attack == "unknown_message") {
    SendRaw(std::string("\x9a\x06\x00", 3));
  } else if (attack == "welcome_from_plugin") {
    e.mutable_welcome()->set_protocol_version(1);
    SendRaw(e.SerializeAsString());
  } else if (attack == "unknown_call_id") {
    e.mutable_call_result()->set_id(ctx.id + 12345);
    SendRaw(e.SerializeAsString());
  } else if (attack == "heartbeat_flood") {
    for (int i = 0; i < 100000; ++i) {
      e.mutable_heartbeat()->set_seq(i);
      if (!SendRaw(e.SerializeAsString())) break;
    }
  } else if (attack == "broker_flood_pipelined") {
    // Broker requests without waiting for answers: the session's unsolicited-message budget.
    BrokerRequest req = OpenRequest("read", "/data/file");
    for (int i = 0; i < 20000; ++i) {
      req.set_id(1000000 + i);
      *e.mutable_broker_request() = req;
      if (!SendRaw(e.SerializeAsString())) break;
    }
  } else if (attack == "fd_stuffing") {
    e.mutable_call_result()->set_id(ctx.id);
    SendRaw(e.SerializeAsString(), std::vector<int>(250, 0));
  } else if (attack == "memfd_size_lie") {
    int fd = static_cast<int>(syscall(SYS_memfd_create, "lie", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    (void)!::write(fd, "tiny", 4);
    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    e.mutable_call_result()->set_id(ctx.id);
    e.mutable_call_result()->mutable_payload()->mutable_memfd()->set_size(uint64_t{1} << 40);
    SendRaw(e.SerializeAsString(), {fd});
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown ipc attack '", attack, "'"));
  }
  return Linger(attack);
}

}  // namespace

int main(int argc, char** argv) {
  // `--before-hello`: the first datagram is a call result, not a Hello.
  if (argc > 1 && std::strcmp(argv[1], "--before-hello") == 0) {
    Envelope e;
    e.mutable_call_result()->set_id(1);
    e.mutable_call_result()->mutable_payload()->set_inline_("unasked");
    SendRaw(e.SerializeAsString());
    sleep(10);
    return 0;
  }
  Plugin::Options options;
  options.name = "broker-attacker";
  options.version = "1.0.0";
  Plugin plugin(options);
  g_plugin = &plugin;
  plugin.Register("open", OpenProbes);
  plugin.Register("reopen", Reopen);
  plugin.Register("race", Race);
  plugin.Register("connect", ConnectProbes);
  plugin.Register("flood", Flood);
  plugin.Register("ipc", IpcAttack);
  return plugin.Main();
}
