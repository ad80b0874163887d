// cordon_ipc_bench: prints, in one run,
//  1. 64 B round trip: a raw SOCK_SEQPACKET socketpair ping-pong between two processes (the
//     floor) beside a PluginSession call to a C++ SDK plugin process, p50/p99 and the ratio;
//  2. 1 MiB and 64 MiB payload transfer between two processes: sealed memfd vs copying the
//     bytes through the socket, each against a plain memcpy of the same size, and whole
//     PluginSession::Call rows (shared input buffer written in place, memfd fallback, the
//     Payload copied into a memfd) to an SDK plugin that checksums its input.
// Usage: cordon_ipc_bench [--iterations N] [--reps R] [--payload-only]
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench/ipc/payload_bench.h"
#include "ipc/plugin_session.h"
#include "ipc/seqpacket_channel.h"
#include "sdk/cpp/plugin.h"

namespace {

using Clock = std::chrono::steady_clock;
using cordon::ipc::SeqpacketChannel;
using cordon::ipc::UniqueFd;

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Percentiles {
  double p50, p99;
};

Percentiles Compute(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}

// Runs `child` in a forked process on one end of a SEQPACKET pair; returns the other end.
pid_t ForkPeer(UniqueFd* parent_end, const std::function<void(int fd)>& child) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(sv[0]);
    child(sv[1]);
    ::_exit(0);
  }
  ::close(sv[1]);
  parent_end->reset(sv[0]);
  return pid;
}

void Reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

pid_t StartEchoPlugin(UniqueFd* fd) {
  return ForkPeer(fd, [](int s) {
    cordon::sdk::Plugin::Options o;
    o.name = "bench";
    o.version = "1.0.0";
    cordon::sdk::Plugin plugin(o);
    plugin.Register("echo",
                    [](const cordon::sdk::CallContext&, const cordon::ipc::Payload& in)
                        -> absl::StatusOr<cordon::ipc::Payload> { return in.ToString(); });
    (void)plugin.ServeFd(::dup(s));
  });
}

struct RoundTrips {
  Percentiles raw, session, hand;
};

// The three ways of doing a 64 B round trip run in alternating blocks, so that load from
// anything else on the machine hits all of them alike.
RoundTrips MeasureRoundTrips(int iterations) {
  // 1. The floor: a raw SEQPACKET ping-pong with an echoing process.
  UniqueFd raw_fd;
  pid_t raw_pid = ForkPeer(&raw_fd, [](int s) {
    char buf[256];
    for (;;) {
      ssize_t n = ::recv(s, buf, sizeof(buf), 0);
      if (n <= 0 || ::send(s, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
    }
  });
  // 2. PluginSession::Call to an SDK plugin process.
  UniqueFd session_fd;
  pid_t session_pid = StartEchoPlugin(&session_fd);
  cordon::ipc::PluginSession session(std::move(session_fd), {});
  if (!session.Handshake({}).ok()) std::abort();
  // 3. The same SDK plugin driven by hand-encoded envelopes from this thread: the protocol's
  //    cost without the session's reader thread and id matching.
  UniqueFd hand_fd;
  pid_t hand_pid = StartEchoPlugin(&hand_fd);
  SeqpacketChannel hand(std::move(hand_fd));
  {
    cordon::v1::Envelope welcome;
    welcome.mutable_welcome()->set_protocol_version(1);
    if (!hand.Receive(absl::InfiniteFuture()).ok() ||
        !hand.Send(welcome.SerializeAsString()).ok() ||
        !hand.Receive(absl::InfiniteFuture()).ok()) {
      std::abort();
    }
  }

  const std::string msg(64, 'p');
  char buf[256];
  std::vector<double> raw, ses, hnd;
  uint64_t id = 0;
  constexpr int kBlock = 500;
  for (int done = -2 * kBlock; done < iterations; done += kBlock) {  // first blocks: warm-up
    const bool keep = done >= 0;
    for (int i = 0; i < kBlock; ++i) {
      auto t0 = Clock::now();
      if (::send(raw_fd.get(), msg.data(), msg.size(), MSG_NOSIGNAL) != 64) std::abort();
      if (::recv(raw_fd.get(), buf, sizeof(buf), 0) != 64) std::abort();
      if (keep) raw.push_back(Us(Clock::now() - t0));
    }
    for (int i = 0; i < kBlock; ++i) {
      auto t0 = Clock::now();
      auto out = session.CallBytes("echo", msg, absl::Seconds(10));
      if (!out.ok() || out->size() != 64) std::abort();
      if (keep) ses.push_back(Us(Clock::now() - t0));
    }
    for (int i = 0; i < kBlock; ++i) {
      auto t0 = Clock::now();
      cordon::v1::Envelope req;
      req.mutable_call_request()->set_id(++id);
      req.mutable_call_request()->set_method("echo");
      req.mutable_call_request()->set_timeout_ms(10000);
      req.mutable_call_request()->mutable_payload()->set_inline_(msg);
      if (!hand.Send(req.SerializeAsString()).ok()) std::abort();
      auto res = hand.Receive(absl::InfiniteFuture());
      cordon::v1::Envelope out;
      if (!res.ok() || !out.ParseFromString(res->bytes)) std::abort();
      if (keep) hnd.push_back(Us(Clock::now() - t0));
    }
  }
  (void)session.Shutdown(absl::Seconds(5));
  raw_fd.reset();
  hand.Close();
  Reap(raw_pid);
  Reap(session_pid);
  Reap(hand_pid);
  return {Compute(raw), Compute(ses), Compute(hnd)};
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 20000;
  int reps = 0;  // 0: per-size default
  bool payload_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--payload-only") == 0) payload_only = true;
    if (i + 1 >= argc) continue;
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
  }
  if (payload_only) {
    cordon::bench::RunPayloadBench(reps);
    return 0;
  }
  std::printf("== 64 B round trip, %d iterations (two processes, one SEQPACKET socketpair)\n",
              iterations);
  RoundTrips rt = MeasureRoundTrips(iterations);
  Percentiles raw = rt.raw, call = rt.session, hand = rt.hand;
  std::printf("%-38s p50 %8.2f us   p99 %8.2f us\n", "raw socketpair ping-pong (floor)", raw.p50,
              raw.p99);
  std::printf("%-38s p50 %8.2f us   p99 %8.2f us\n", "PluginSession call (SDK plugin)", call.p50,
              call.p99);
  std::printf("%-38s p50 %8.2f us   p99 %8.2f us\n", "SDK plugin, hand-driven (no session)",
              hand.p50, hand.p99);
  std::printf("%-38s p50 %8.2fx     p99 %8.2fx   (goal: p50 <= 1.5x)\n", "ratio call / floor",
              call.p50 / raw.p50, call.p99 / raw.p99);

  cordon::bench::RunPayloadBench(reps);
  return 0;
}
