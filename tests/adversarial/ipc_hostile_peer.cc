// Hostile-peer attacks on the host side of the plugin protocol. Each scenario connects a real
// cordon::ipc::PluginSession to a scripted plugin over a SOCK_SEQPACKET socketpair and plays
// one attack: oversized, malformed, out-of-order, flooding, fd-stuffing and lying payloads.
// The session is the code the launcher will run for every plugin, so this is the attack
// surface even before the launcher drives it (no sandbox is started here).
//
// For each scenario it prints one JSON line: {"name", "verdict", "evidence", "audit"} where
// verdict is BLOCKED (the session reported the expected violation and failed for good, and the
// host process kept its fd count and memory), ESCAPED (the session accepted the input or stayed
// healthy) or ERROR. The audit column is the record the launcher is to write for the
// violation (ProtocolViolation::AuditType/KindName): no log exists here, but the launcher's
// LoadedPlugin writes exactly that record when a sandboxed plugin does the same (the suite's
// ipc_channel_under_cordon_run row checks it in a real audit log).
#include <dirent.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "audit/json_escape.h"
#include "ipc/envelope_codec.h"
#include "ipc/plugin_session.h"
#include "ipc/protocol_violation.h"
#include "ipc/seqpacket_channel.h"

namespace cordon::ipc {
namespace {

using cordon::v1::Envelope;

int CountFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the DIR's own fd
}

long RssKiB() {
  FILE* f = fopen("/proc/self/statm", "re");
  if (f == nullptr) return -1;
  long size = 0, rss = 0;
  if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = -1;
  fclose(f);
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

// A quoted JSON string (the audit log's escaping: control characters, invalid UTF-8).
std::string Json(const std::string& s) {
  std::string out;
  cordon::audit::AppendJsonString(&out, s);
  return out;
}

// The plugin end. Loose caps: it is the attacker and may send whatever it likes.
class Attacker {
 public:
  explicit Attacker(UniqueFd fd) : ch_(std::move(fd), Loose()) {}
  static SeqpacketChannel::Options Loose() {
    SeqpacketChannel::Options o;
    o.max_datagram_bytes = 4 << 20;
    o.max_fds = 253;
    return o;
  }
  bool Send(const Envelope& e, const std::vector<int>& fds = {}) {
    return ch_.Send(e.SerializeAsString(), fds).ok();
  }
  bool SendRaw(const std::string& bytes, const std::vector<int>& fds = {}) {
    return ch_.Send(bytes, fds).ok();
  }
  // sendmsg by hand: SeqpacketChannel itself refuses to send more fds than its hard limit.
  bool SendWithManyFds(const std::string& bytes, const std::vector<int>& fds) {
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
    return ::sendmsg(ch_.fd(), &msg, MSG_NOSIGNAL) >= 0;
  }
  std::optional<Envelope> Next() {
    auto dg = ch_.Receive(absl::Now() + absl::Seconds(5));
    if (!dg.ok()) return std::nullopt;
    Envelope e;
    if (!e.ParseFromString(dg->bytes)) return std::nullopt;
    return e;
  }
  static Envelope Hello() {
    Envelope e;
    e.mutable_hello()->mutable_protocol()->set_min(1);
    e.mutable_hello()->mutable_protocol()->set_max(1);
    e.mutable_hello()->set_name("hostile");
    e.mutable_hello()->set_version("0.0.1");
    e.mutable_hello()->add_methods("m");
    return e;
  }
  bool Handshake() {
    if (!Send(Hello())) return false;
    auto w = Next();
    if (!w || !w->has_welcome()) return false;
    Envelope ready;
    ready.mutable_ready();
    return Send(ready);
  }
  // Waits for the first call request (after a handshake); returns its id or 0.
  uint64_t NextCallId() {
    auto e = Next();
    return e && e->has_call_request() ? e->call_request().id() : 0;
  }
  // Stays connected until the host hangs up, so EOF never explains a failure.
  void Linger() {
    while (ch_.Receive(absl::Now() + absl::Seconds(5)).ok()) {
    }
  }

 private:
  SeqpacketChannel ch_;
};

enum class When {
  kBeforeHandshake,  // the attack replaces the Hello
  kDuringCall,       // the attack answers the first call
};

struct Scenario {
  const char* name;
  const char* what;  // one line for the table
  When when;
  std::optional<ViolationKind> expected;  // nullopt: the session must fail without a violation
  std::function<void(Attacker&, uint64_t call_id)> attack;
  absl::Duration handshake_timeout = absl::Seconds(5);
  absl::Duration call_timeout = absl::Seconds(5);
  bool linger = true;                  // false: hang up right after the attack
  bool first_result_is_legit = false;  // the attack answers the call correctly first
  std::optional<ViolationKind> also_ok = std::nullopt;  // an equally precise alternative
};

UniqueFd Memfd(const std::string& contents, bool seal) {
  UniqueFd fd(
      static_cast<int>(::syscall(SYS_memfd_create, "hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
  if (::write(fd.get(), contents.data(), contents.size()) < 0) return UniqueFd();
  if (seal) {
    ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  }
  return fd;
}

struct Outcome {
  std::string verdict;
  std::string evidence;
  std::string audit;
};

Outcome Run(const Scenario& s) {
  const int fds_before = CountFds();
  const long rss_before = RssKiB();
  auto pair = SeqpacketChannel::SocketPair();
  if (!pair.ok()) return {"ERROR", std::string(pair.status().message()), ""};

  std::mutex mu;
  std::condition_variable cv;
  std::vector<ProtocolViolation> seen;
  PluginSession::Options o;
  o.plugin_label = "plugin hostile";
  o.on_violation = [&](const ProtocolViolation& v) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(v);
    cv.notify_all();
  };
  o.on_log = [](const cordon::v1::LogMessage&) {};
  auto session = std::make_unique<PluginSession>(std::move(pair->first), o);
  std::thread peer([&s, fd = pair->second.release()]() {
    Attacker a{UniqueFd(fd)};
    if (s.when == When::kBeforeHandshake) {
      s.attack(a, 0);
    } else {
      if (!a.Handshake()) return;
      uint64_t id = a.NextCallId();
      s.attack(a, id);
    }
    if (s.linger) a.Linger();
  });

  HandshakeParams params;
  params.timeout = s.handshake_timeout;
  auto info = session->Handshake(params);
  std::string outcome;
  bool accepted = false;
  if (s.when == When::kBeforeHandshake) {
    accepted = info.ok();
    outcome = info.ok() ? "handshake accepted" : std::string(info.status().message());
  } else if (!info.ok()) {
    session.reset();
    peer.join();
    return {"ERROR", "handshake failed: " + std::string(info.status().message()), ""};
  } else {
    auto out = session->CallBytes("m", "x", s.call_timeout);
    accepted = out.ok();
    outcome = out.ok() ? "call returned data" : std::string(out.status().message());
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return !seen.empty() || !s.expected; });
  }
  // on_violation runs just before the session records its failure (so the launcher hears first);
  // give the reader thread a bounded moment to finish failing the session.
  const absl::Time until = absl::Now() + absl::Seconds(2);
  while (session->status().ok() && !seen.empty() && absl::Now() < until) std::this_thread::yield();
  const bool healthy = session->status().ok();
  session.reset();  // hangs up: the peer's Linger returns
  peer.join();
  const int fds_after = CountFds();
  const long rss_after = RssKiB();

  Outcome r;
  std::string kinds;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& v : seen) {
      if (!kinds.empty()) kinds += ",";
      kinds += std::string(v.KindName());
    }
    if (!seen.empty()) {
      r.audit = absl::StrCat(seen[0].AuditType(), " {kind: ", seen[0].KindName(),
                             "} (launcher writes it; see ipc_channel_under_cordon_run)");
    } else {
      r.audit = "none (no violation reported)";
    }
    r.evidence = absl::StrFormat("%s; violations [%s]; session %s; fds %d->%d; rss %+ld KiB",
                                 outcome, kinds, healthy ? "HEALTHY" : "failed", fds_before,
                                 fds_after, rss_after - rss_before);
    const bool right_kind =
        s.expected ? (seen.size() == 1 &&
                      (seen[0].kind == *s.expected || (s.also_ok && seen[0].kind == *s.also_ok)))
                   : seen.empty();
    const bool host_ok = fds_after == fds_before && rss_after - rss_before < 64 * 1024;
    if ((accepted && !s.first_result_is_legit) || healthy) {
      r.verdict = "ESCAPED";
    } else if (!host_ok) {
      r.verdict = "ESCAPED";
      r.evidence += " (host resources not restored)";
    } else if (!right_kind) {
      r.verdict = "UNAUDITED";
      r.evidence += absl::StrCat(" (expected ",
                                 s.expected ? ViolationKindName(*s.expected) : "no violation", ")");
    } else {
      r.verdict = "BLOCKED";
    }
  }
  return r;
}

std::vector<Scenario> Scenarios() {
  std::vector<Scenario> v;
  v.push_back({"ipc_oversized_datagram", "160 KiB datagram against a 64 KiB cap", When::kDuringCall,
               ViolationKind::kOversizedDatagram,
               [](Attacker& a, uint64_t) { a.SendRaw(std::string(160 << 10, 'A')); }});
  v.push_back({"ipc_malformed_envelope", "truncated varint / garbage protobuf", When::kDuringCall,
               ViolationKind::kMalformedEnvelope,
               [](Attacker& a, uint64_t) { a.SendRaw("\x0a\xff\xff\xff\xff\x0f garbage"); }});
  v.push_back({"ipc_length_lie", "field length prefix claims 2 GiB", When::kDuringCall,
               ViolationKind::kMalformedEnvelope, [](Attacker& a, uint64_t) {
                 a.SendRaw(std::string("\x5a\xff\xff\xff\xff\x07", 6) + "short");
               }});
  v.push_back({"ipc_unknown_message", "oneof case from a future protocol", When::kDuringCall,
               ViolationKind::kUnknownMessage,
               [](Attacker& a, uint64_t) { a.SendRaw(std::string("\x9a\x06\x00", 3)); }});
  v.push_back({"ipc_result_before_hello", "CallResult as the first message", When::kBeforeHandshake,
               ViolationKind::kUnexpectedMessage, [](Attacker& a, uint64_t) {
                 Envelope e;
                 e.mutable_call_result()->set_id(1);
                 a.Send(e);
               }});
  v.push_back({"ipc_second_hello", "Hello again in the middle of a call", When::kDuringCall,
               ViolationKind::kUnexpectedMessage,
               [](Attacker& a, uint64_t) { a.Send(Attacker::Hello()); }});
  v.push_back({"ipc_welcome_from_plugin", "plugin sends a host-only message (Welcome)",
               When::kDuringCall, ViolationKind::kUnexpectedMessage, [](Attacker& a, uint64_t) {
                 Envelope e;
                 e.mutable_welcome()->set_protocol_version(1);
                 a.Send(e);
               }});
  v.push_back({"ipc_unknown_call_id", "result for a call never made", When::kDuringCall,
               ViolationKind::kUnknownCallId, [](Attacker& a, uint64_t id) {
                 Envelope e;
                 e.mutable_call_result()->set_id(id + 12345);
                 a.Send(e);
               }});
  v.push_back({"ipc_replayed_result", "the same result twice", When::kDuringCall,
               ViolationKind::kUnknownCallId, [](Attacker& a, uint64_t id) {
                 Envelope e;
                 e.mutable_call_result()->set_id(id);
                 e.mutable_call_result()->mutable_payload()->set_inline_("ok");
                 a.Send(e);
                 a.Send(e);
               }});
  v.back().first_result_is_legit = true;
  v.push_back({"ipc_heartbeat_flood", "100k heartbeats as fast as possible", When::kDuringCall,
               ViolationKind::kMessageFlood, [](Attacker& a, uint64_t) {
                 Envelope e;
                 for (int i = 0; i < 100000; ++i) {
                   e.mutable_heartbeat()->set_seq(i);
                   if (!a.Send(e)) break;
                 }
               }});
  v.push_back({"ipc_log_flood", "maximal log messages in a loop", When::kDuringCall,
               ViolationKind::kMessageFlood, [](Attacker& a, uint64_t) {
                 Envelope e;
                 e.mutable_log()->set_level(cordon::v1::LogMessage::ERROR);
                 e.mutable_log()->set_message(std::string(8000, 'L'));
                 for (int i = 0; i < 20000; ++i) {
                   if (!a.Send(e)) break;
                 }
               }});
  v.push_back({"ipc_fd_stuffing", "250 fds (SCM_MAX_FD) in one datagram", When::kDuringCall,
               ViolationKind::kTruncatedControlData, [](Attacker& a, uint64_t id) {
                 std::vector<int> fds(250, 0);
                 Envelope e;
                 e.mutable_call_result()->set_id(id);
                 a.SendWithManyFds(e.SerializeAsString(), fds);
               }});
  v.push_back({"ipc_few_extra_fds", "8 fds (over the cap of 4) on a result", When::kDuringCall,
               ViolationKind::kTooManyFds, [](Attacker& a, uint64_t id) {
                 std::vector<int> fds(8, 0);
                 Envelope e;
                 e.mutable_call_result()->set_id(id);
                 a.Send(e, fds);
               }});
  // The receive buffer is sized for the cap, so extra fds arrive as MSG_CTRUNC.
  v.back().also_ok = ViolationKind::kTruncatedControlData;
  v.push_back({"ipc_memfd_size_lie", "memfd payload claiming 1 TiB", When::kDuringCall,
               ViolationKind::kBadPayload, [](Attacker& a, uint64_t id) {
                 UniqueFd fd = Memfd("tiny", true);
                 Envelope e;
                 e.mutable_call_result()->set_id(id);
                 e.mutable_call_result()->mutable_payload()->mutable_memfd()->set_size(1ull << 40);
                 a.Send(e, {fd.get()});
               }});
  v.push_back({"ipc_unsealed_memfd", "memfd payload the plugin can still write", When::kDuringCall,
               ViolationKind::kBadPayload, [](Attacker& a, uint64_t id) {
                 UniqueFd fd = Memfd("mutable", false);
                 Envelope e;
                 e.mutable_call_result()->set_id(id);
                 e.mutable_call_result()->mutable_payload()->mutable_memfd()->set_size(7);
                 a.Send(e, {fd.get()});
               }});
  v.push_back({"ipc_memfd_not_memfd", "payload fd is a pipe, not a memfd", When::kDuringCall,
               ViolationKind::kBadPayload, [](Attacker& a, uint64_t id) {
                 int p[2];
                 if (::pipe2(p, O_CLOEXEC) != 0) return;
                 Envelope e;
                 e.mutable_call_result()->set_id(id);
                 e.mutable_call_result()->mutable_payload()->mutable_memfd()->set_size(1);
                 a.Send(e, {p[0]});
                 ::close(p[0]);
                 ::close(p[1]);
               }});
  v.push_back({"ipc_huge_hello", "Hello with 20000 method names", When::kBeforeHandshake,
               ViolationKind::kMalformedEnvelope, [](Attacker& a, uint64_t) {
                 Envelope e = Attacker::Hello();
                 for (int i = 0; i < 20000; ++i) e.mutable_hello()->add_methods("m");
                 a.Send(e);
               }});
  v.push_back({"ipc_hostile_name", "plugin name with newline, quotes and ../",
               When::kBeforeHandshake, ViolationKind::kMalformedEnvelope,
               [](Attacker& a, uint64_t) {
                 Envelope e = Attacker::Hello();
                 e.mutable_hello()->set_name("x\"}\n{\"type\":\"forged\"}/../../etc");
                 a.Send(e);
               }});
  v.push_back({"ipc_silent_plugin", "never sends Hello", When::kBeforeHandshake,
               ViolationKind::kHandshakeTimeout, [](Attacker&, uint64_t) {}});
  v.back().handshake_timeout = absl::Milliseconds(300);
  v.push_back({"ipc_slowloris_call", "heartbeats but never answers the call", When::kDuringCall,
               ViolationKind::kCallDeadlineExceeded, [](Attacker& a, uint64_t) {
                 Envelope e;
                 for (int i = 0; i < 5; ++i) {
                   e.mutable_heartbeat()->set_seq(i);
                   a.Send(e);
                 }
               }});
  v.back().call_timeout = absl::Milliseconds(300);
  v.push_back({"ipc_eof_mid_handshake", "hangs up after Hello", When::kBeforeHandshake,
               std::nullopt, [](Attacker& a, uint64_t) { a.Send(Attacker::Hello()); }});
  v.back().linger = false;
  return v;
}

}  // namespace
}  // namespace cordon::ipc

int main(int argc, char** argv) {
  // An outer safety net: the hostile peer must never be able to make this process use
  // unbounded memory (the caps under test should hold far below this). Not under ASan, which
  // reserves terabytes of address space for its shadow memory.
#if !defined(__SANITIZE_ADDRESS__)
  struct rlimit as = {2ull << 30, 2ull << 30};
  setrlimit(RLIMIT_AS, &as);
#endif
  std::string only = argc > 1 ? argv[1] : "";
  for (const auto& s : cordon::ipc::Scenarios()) {
    if (!only.empty() && only != s.name) continue;
    auto r = cordon::ipc::Run(s);
    std::printf("{\"name\":%s,\"what\":%s,\"verdict\":%s,\"evidence\":%s,\"audit\":%s}\n",
                cordon::ipc::Json(s.name).c_str(), cordon::ipc::Json(s.what).c_str(),
                cordon::ipc::Json(r.verdict).c_str(), cordon::ipc::Json(r.evidence).c_str(),
                cordon::ipc::Json(r.audit).c_str());
    std::fflush(stdout);
  }
  return 0;
}
