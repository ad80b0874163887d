// cordon_ipc_bench: prints, in one run,
//  1. 64 B round trip: a raw SOCK_SEQPACKET socketpair ping-pong between two processes (the
//     floor) beside a PluginSession call to a C++ SDK plugin process, p50/p99 and the ratio;
//  2. 1 MiB and 64 MiB payload transfer between two processes: sealed memfd vs copying the
//     bytes through the socket, each against a plain memcpy of the same size.
// Usage: cordon_ipc_bench [--iterations N] [--reps R]
#include <signal.h>
#include <sys/mman.h>
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

#include "ipc/memfd_payload.h"
#include "ipc/plugin_session.h"
#include "ipc/seqpacket_channel.h"
#include "sdk/cpp/plugin.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunk = 64 * 1024;  // the datagram cap
using cordon::ipc::MemfdPayload;
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

uint64_t Checksum(const char* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    s += w;
  }
  return s;
}

// Median seconds of `reps` transfers of `size` bytes from this process to a receiver process,
// which checksums what it got (the same work on every path) and acks.
double SocketCopy(size_t size, int reps, bool fresh_buffer) {
  UniqueFd fd;
  pid_t pid = ForkPeer(&fd, [size, fresh_buffer](int s) {
    std::vector<char> buf(size);
    for (;;) {
      // An API that hands each payload to its caller (as PluginSession does with inline
      // results) needs new memory per payload; a reused buffer is the optimistic floor.
      if (fresh_buffer) std::vector<char>(size).swap(buf);
      size_t got = 0;
      while (got < size) {
        ssize_t n = ::recv(s, buf.data() + got, std::min(kChunk, size - got), 0);
        if (n <= 0) return;
        got += static_cast<size_t>(n);
      }
      uint64_t sum = Checksum(buf.data(), size);
      if (::send(s, &sum, sizeof(sum), MSG_NOSIGNAL) != sizeof(sum)) return;
    }
  });
  std::vector<char> src(size, 'x');
  std::vector<double> t;
  for (int r = 0; r < reps + 1; ++r) {
    auto t0 = Clock::now();
    for (size_t off = 0; off < size; off += kChunk) {
      size_t n = std::min(kChunk, size - off);
      if (::send(fd.get(), src.data() + off, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) {
        std::abort();
      }
    }
    uint64_t sum;
    if (::recv(fd.get(), &sum, sizeof(sum), 0) != sizeof(sum)) std::abort();
    if (r > 0) t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  fd.reset();
  Reap(pid);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double MemfdTransfer(size_t size, int reps, bool in_place) {
  UniqueFd fd;
  pid_t pid = ForkPeer(&fd, [size](int s) {
    SeqpacketChannel ch{UniqueFd(::dup(s))};
    for (;;) {
      auto dg = ch.Receive(absl::InfiniteFuture());
      if (!dg.ok() || dg->fds.size() != 1) return;
      auto m = MemfdPayload::OpenSealed(std::move(dg->fds[0]), size, size);
      if (!m.ok()) std::abort();
      uint64_t sum = Checksum(m->data().data(), size);
      if (!ch.Send(std::string(reinterpret_cast<char*>(&sum), sizeof(sum))).ok()) return;
    }
  });
  SeqpacketChannel ch(std::move(fd));
  std::vector<char> src(size, 'x');
  std::vector<double> t;
  for (int r = 0; r < reps + 1; ++r) {
    auto t0 = Clock::now();
    UniqueFd sealed;
    if (in_place) {
      // The sender produces its bytes straight into a writable mapping (here: a memcpy).
      auto m = MemfdPayload::CreateWritable("bench", size);
      if (!m.ok()) std::abort();
      std::memcpy(m->mutable_data().data(), src.data(), size);
      auto fd = m->Seal();
      if (!fd.ok()) std::abort();
      sealed = std::move(*fd);
    } else {
      // The bytes already sit in a buffer: one write() into a new memfd, then seal.
      auto fd = MemfdPayload::CreateSealed("bench", absl::string_view(src.data(), size));
      if (!fd.ok()) std::abort();
      sealed = std::move(*fd);
    }
    int raw = sealed.get();
    if (!ch.Send("m", {&raw, 1}).ok()) std::abort();
    auto ack = ch.Receive(absl::InfiniteFuture());
    if (!ack.ok()) std::abort();
    if (r > 0) t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  ch.Close();
  Reap(pid);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Fresh pages: what every sealed memfd (and every fresh receive buffer) must pay, because
// sealed pages can never be written again and so never be reused.
double PageAllocation(size_t size, int reps) {
  std::vector<double> t;
  for (int r = 0; r < reps + 1; ++r) {
    auto t0 = Clock::now();
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED) std::abort();
    ::munmap(m, size);
    if (r > 0) t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double Memcpy(size_t size, int reps) {
  std::vector<char> src(size, 'x'), dst(size, 'y');
  std::vector<double> t;
  volatile uint64_t sink = 0;
  for (int r = 0; r < reps + 1; ++r) {
    auto t0 = Clock::now();
    std::memcpy(dst.data(), src.data(), size);
    sink = sink + static_cast<uint64_t>(dst[size / 2]);
    if (r > 0) t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 20000;
  int reps = 0;  // 0: per-size default
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
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

  std::printf("\n== payload transfer to another process (receiver checksums the bytes)\n");
  for (size_t size : {size_t{1} << 20, size_t{64} << 20}) {
    int r = reps > 0 ? reps : (size <= (1u << 20) ? 200 : 15);
    double mc = Memcpy(size, r);
    double sock = SocketCopy(size, r, false);
    double sock_fresh = SocketCopy(size, r, true);
    double mfd = MemfdTransfer(size, r, false);
    double mfd_in_place = MemfdTransfer(size, r, true);
    double mib = static_cast<double>(size) / (1 << 20);
    auto row = [&](const char* what, double secs) {
      std::printf("%3.0f MiB  %-44s %9.3f ms  %7.2f GiB/s\n", mib, what, secs * 1e3,
                  mib / 1024 / secs);
    };
    row("memcpy (reused buffers)", mc);
    row("page allocation alone (mmap populate+munmap)", PageAllocation(size, r));
    row("socket copy, reused receive buffer", sock);
    row("socket copy, fresh receive buffer", sock_fresh);
    row("sealed memfd, write() from a buffer", mfd);
    row("sealed memfd, produced in place", mfd_in_place);
    std::printf(
        "%3.0f MiB  memfd speedup vs socket: %.2fx (reused buffer), %.2fx (fresh "
        "buffer)   goal >= 3x\n",
        mib, sock / std::min(mfd, mfd_in_place), sock_fresh / std::min(mfd, mfd_in_place));
  }
  return 0;
}
