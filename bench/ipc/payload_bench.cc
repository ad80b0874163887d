// Payload transfer between two processes, every path measured the same way: the sender starts
// from the bytes in a buffer of its own, the receiver (another process) checksums every byte it
// got with the same function and acks with 8 bytes; the time is from the start of the send to
// the ack.
#include "bench/ipc/payload_bench.h"

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
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ipc/memfd_payload.h"
#include "ipc/memfd_pool.h"
#include "ipc/memfd_premap_cache.h"
#include "ipc/plugin_session.h"
#include "ipc/seqpacket_channel.h"
#include "ipc/shared_payload_buffer.h"
#include "sdk/cpp/plugin.h"

namespace cordon::bench {
namespace {

using Clock = std::chrono::steady_clock;
using ipc::MemfdPayload;
using ipc::MemfdPool;
using ipc::MemfdPremapCache;
using ipc::SeqpacketChannel;
using ipc::SharedPayloadBuffer;
using ipc::UniqueFd;
constexpr size_t kChunk = 64 * 1024;  // the datagram cap

double Secs(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
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

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "payload bench: %s failed\n", what);
  std::abort();
}

pid_t ForkPeer(UniqueFd* parent_end, const std::function<void(int fd)>& child) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) Die("socketpair");
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

std::string U64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
uint64_t GetU64(const std::string& s, size_t at) {
  uint64_t v = 0;
  if (s.size() >= at + 8) std::memcpy(&v, s.data() + at, 8);
  return v;
}

// The receiver for every memfd path. Messages: "O"+fd offers a pool slot (premap), "M"+size+fd
// is a sealed payload, "S"+fd a shared buffer, "V"+offset+length a payload in it.
void MemfdReceiver(int s, size_t cap) {
  SeqpacketChannel ch{UniqueFd(::dup(s))};
  MemfdPremapCache cache({.max_slot_bytes = cap, .max_slots = 4, .max_total_bytes = 4 * cap});
  SharedPayloadBuffer shared;
  for (;;) {
    auto dg = ch.Receive(absl::InfiniteFuture());
    if (!dg.ok() || dg->bytes.empty()) return;
    uint64_t sum = 0;
    // Released after the ack, as a receiver that keeps using the payload would.
    absl::StatusOr<MemfdPayload> m;
    switch (dg->bytes[0]) {
      case 'O':
        if (dg->fds.size() != 1 || !cache.Offer(std::move(dg->fds[0])).ok()) Die("offer");
        break;
      case 'M': {
        if (dg->fds.size() != 1) Die("memfd message");
        m = cache.Open(std::move(dg->fds[0]), GetU64(dg->bytes, 1), cap);
        if (!m.ok()) Die("open sealed memfd");
        sum = Checksum(m->data().data(), m->size());
        break;
      }
      case 'S': {
        if (dg->fds.size() != 1) Die("shared message");
        auto b = SharedPayloadBuffer::OpenReadOnly(std::move(dg->fds[0]), cap);
        if (!b.ok()) Die("open shared buffer");
        shared = std::move(*b);
        break;
      }
      case 'V': {
        auto v = shared.View(GetU64(dg->bytes, 1), GetU64(dg->bytes, 9));
        if (!v.ok()) Die("shared view");
        sum = Checksum(v->data(), v->size());
        break;
      }
      default:
        return;
    }
    if (!ch.Send(U64(sum)).ok()) return;
  }
}

// One transfer method: Run() does one timed transfer and returns seconds.
struct Path {
  std::string name;
  std::function<double()> run;
  std::vector<double> samples;
};

class Peer {
 public:
  explicit Peer(const std::function<void(int)>& body) : pid_(ForkPeer(&fd_, body)) {}
  ~Peer() {
    fd_.reset();
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  pid_t pid_;
};

void SocketReceiver(int s, size_t size, bool fresh_buffer) {
  std::vector<char> buf(size);
  for (;;) {
    // An API that hands each payload to its caller (as PluginSession does with inline results)
    // needs new memory per payload, which it can only allocate once the payload starts to
    // arrive; a reused buffer is the optimistic floor.
    char peek;
    if (::recv(s, &peek, 1, MSG_PEEK) <= 0) return;
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
}

// A C++ SDK plugin. "sum" checksums its input and returns the 8-byte sum. "produce" returns
// `size` (its 8-byte input) bytes of `src`, written in place into Plugin::AcquireOutput();
// the copy from `src` is production (as for the socket sender, whose bytes are ready in its
// buffer), timed here and left in *production_ns for the host to subtract. opt_in false: it
// offers neither shared inputs nor shared results (inputs and results travel as memfds).
void BenchPlugin(int s, bool opt_in, const std::vector<char>* src, int64_t* production_ns) {
  sdk::Plugin::Options o;
  o.name = "bench-sum";
  o.version = "1.0.0";
  if (!opt_in) {
    o.max_shared_buffers = 0;
    o.max_result_buffers = 0;
  }
  sdk::Plugin plugin(o);
  plugin.Register(
      "sum", [](const sdk::CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
        return U64(Checksum(in.data().data(), in.size()));
      });
  plugin.Register(
      "produce",
      [&](const sdk::CallContext&, const ipc::Payload& in) -> absl::StatusOr<ipc::Payload> {
        const size_t size = std::min<size_t>(GetU64(in.ToString(), 0), src->size());
        auto out = plugin.AcquireOutput(size);
        if (!out.ok()) return out.status();
        auto t0 = Clock::now();
        std::memcpy(out->data().data(), src->data(), size);
        *production_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        return std::move(*out).Finish();
      });
  (void)plugin.ServeFd(::dup(s));
}

uint64_t Ack(SeqpacketChannel& ch) {
  auto ack = ch.Receive(absl::InfiniteFuture());
  if (!ack.ok()) Die("ack");
  return GetU64(ack->bytes, 0);
}

void SendMemfd(SeqpacketChannel& ch, const UniqueFd& fd, uint64_t size) {
  int raw = fd.get();
  if (!ch.Send("M" + U64(size), {&raw, 1}).ok()) Die("send memfd");
}

std::string ShmemThp() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  std::string line;
  std::getline(f, line);
  return line;
}

void RunSize(size_t size, int reps) {
  const uint64_t expect = Checksum(std::string(size, 'x').data(), size);
  std::vector<char> src(size, 'x');
  std::vector<std::unique_ptr<Path>> paths;
  auto add = [&](std::string name, std::function<double()> run) {
    paths.push_back(std::make_unique<Path>(Path{std::move(name), std::move(run), {}}));
  };
  auto check = [&](uint64_t sum) {
    if (sum != expect) Die("checksum");
  };

  // Baselines.
  std::vector<char> dst(size, 'y');
  add("memcpy (reused buffers)", [&] {
    auto t0 = Clock::now();
    std::memcpy(dst.data(), src.data(), size);
    double t = Secs(t0);
    check(Checksum(dst.data(), size));
    return t;
  });
  add("page allocation alone (mmap populate+munmap)", [&] {
    auto t0 = Clock::now();
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED) Die("mmap");
    ::munmap(m, size);
    return Secs(t0);
  });

  // Socket copy through 64 KiB datagrams.
  Peer sock_reused([size](int s) { SocketReceiver(s, size, false); });
  Peer sock_fresh([size](int s) { SocketReceiver(s, size, true); });
  auto socket_copy = [&](const Peer& peer) {
    auto t0 = Clock::now();
    for (size_t off = 0; off < size; off += kChunk) {
      size_t n = std::min(kChunk, size - off);
      if (::send(peer.fd(), src.data() + off, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) {
        Die("send");
      }
    }
    uint64_t sum;
    if (::recv(peer.fd(), &sum, sizeof(sum), 0) != sizeof(sum)) Die("recv ack");
    double t = Secs(t0);
    check(sum);
    return t;
  };
  add("socket copy, reused receive buffer", [&] { return socket_copy(sock_reused); });
  add("socket copy, fresh receive buffer", [&] { return socket_copy(sock_fresh); });

  // Sealed fresh memfd, created on the critical path (the code before the pool).
  Peer fresh_peer([size](int s) { MemfdReceiver(s, size); });
  SeqpacketChannel fresh_ch{UniqueFd(::dup(fresh_peer.fd()))};
  add("fresh sealed memfd, write() from buffer", [&] {
    auto t0 = Clock::now();
    auto fd = MemfdPayload::CreateSealed("bench", absl::string_view(src.data(), size));
    if (!fd.ok()) Die("CreateSealed");
    SendMemfd(fresh_ch, *fd, size);
    uint64_t sum = Ack(fresh_ch);
    double t = Secs(t0);
    check(sum);
    return t;
  });
  add("fresh sealed memfd, produced in place", [&] {
    auto t0 = Clock::now();
    auto m = MemfdPayload::CreateWritable("bench", size);
    if (!m.ok()) Die("CreateWritable");
    std::memcpy(m->mutable_data().data(), src.data(), size);
    auto fd = m->Seal();
    if (!fd.ok()) Die("Seal");
    SendMemfd(fresh_ch, *fd, size);
    uint64_t sum = Ack(fresh_ch);
    double t = Secs(t0);
    check(sum);
    return t;
  });

  // Sealed memfd from a pre-faulted pool. "copy in": the bytes sit in a private buffer and are
  // copied into the slot (timed). "in place": the sender produces straight into the slot, the
  // same work as producing into the private buffer the socket path sends from, so it is left
  // out of both. "warm" times the hand-off only (the slot was refilled and offered before);
  // "sustained" adds the refill (page allocation, receiver premap) and the release (freeing
  // the pages), as a sender producing back to back pays them.
  MemfdPool pool({.name = "bench-pool", .slot_bytes = size, .depth = 1});
  auto pooled = [&](SeqpacketChannel& ch, bool offer, bool copy_in, bool sustained) {
    auto r0 = Clock::now();
    auto fresh_slots = pool.Refill();
    if (!fresh_slots.ok()) Die("Refill");
    for (UniqueFd& fd : *fresh_slots) {
      if (!offer) continue;
      int raw = fd.get();
      if (!ch.Send("O", {&raw, 1}).ok()) Die("offer");
      (void)Ack(ch);
    }
    fresh_slots->clear();
    double refill = Secs(r0);
    auto m = pool.Acquire(size);
    if (!m.ok()) Die("Acquire");
    if (!copy_in) std::memcpy(m->mutable_data().data(), src.data(), size);  // production
    auto t0 = Clock::now();
    if (copy_in) std::memcpy(m->mutable_data().data(), src.data(), size);
    auto fd = m->Seal();
    if (!fd.ok()) Die("Seal");
    SendMemfd(ch, *fd, size);
    uint64_t sum = Ack(ch);
    double t = Secs(t0);
    check(sum);
    auto f0 = Clock::now();
    fd->reset();
    *m = MemfdPayload();
    double release = Secs(f0);
    return sustained ? refill + t + release : t;
  };
  Peer pool_peer([size](int s) { MemfdReceiver(s, size); });
  SeqpacketChannel pool_ch{UniqueFd(::dup(pool_peer.fd()))};
  Peer premap_peer([size](int s) { MemfdReceiver(s, size); });
  SeqpacketChannel premap_ch{UniqueFd(::dup(premap_peer.fd()))};
  add("pool warm, receiver maps, copy in", [&] { return pooled(pool_ch, false, true, false); });
  add("pool warm, receiver maps, in place", [&] { return pooled(pool_ch, false, false, false); });
  add("pool warm, premapped, copy in", [&] { return pooled(premap_ch, true, true, false); });
  add("pool warm, premapped, in place", [&] { return pooled(premap_ch, true, false, false); });
  add("pool sustained, receiver maps, in place",
      [&] { return pooled(pool_ch, false, false, true); });
  add("pool sustained, premapped, in place", [&] { return pooled(premap_ch, true, false, true); });

  // Trusted sender only: one reusable F_SEAL_FUTURE_WRITE buffer, mapped once on each side.
  auto shared = SharedPayloadBuffer::Create("bench-shared", size);
  if (!shared.ok()) Die("SharedPayloadBuffer::Create");
  Peer shared_peer([size](int s) { MemfdReceiver(s, size); });
  SeqpacketChannel shared_ch{UniqueFd(::dup(shared_peer.fd()))};
  {
    auto peer_fd = shared->PeerFd();
    if (!peer_fd.ok()) Die("PeerFd");
    int raw = peer_fd->get();
    if (!shared_ch.Send("S", {&raw, 1}).ok()) Die("send shared");
    (void)Ack(shared_ch);
  }
  auto shared_send = [&](bool copy_in) {
    if (!copy_in) std::memcpy(shared->mutable_data().data(), src.data(), size);
    auto t0 = Clock::now();
    if (copy_in) std::memcpy(shared->mutable_data().data(), src.data(), size);
    if (!shared_ch.Send("V" + U64(0) + U64(size)).ok()) Die("send view");
    uint64_t sum = Ack(shared_ch);
    double t = Secs(t0);
    check(sum);
    return t;
  };
  add("shared FUTURE_WRITE buffer (host->plugin), copy in", [&] { return shared_send(true); });
  add("shared FUTURE_WRITE buffer (host->plugin), in place", [&] { return shared_send(false); });

  // End to end: PluginSession::Call to a real SDK plugin process that checksums the input and
  // returns 8 bytes. Forked before any session exists (no threads in the parent at fork).
  // One shared page where a plugin leaves its last production time.
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) Die("mmap shared page");
  auto* production_ns = static_cast<int64_t*>(page);
  Peer shared_plugin([&](int s) { BenchPlugin(s, true, &src, production_ns); });
  Peer memfd_plugin([&](int s) { BenchPlugin(s, false, &src, production_ns); });
  Peer view_plugin([&](int s) { BenchPlugin(s, true, &src, production_ns); });
  ipc::PluginSession shared_session(UniqueFd(::dup(shared_plugin.fd())), {});
  ipc::PluginSession memfd_session(UniqueFd(::dup(memfd_plugin.fd())), {});
  ipc::PluginSession::Options view_options;
  view_options.shared_results.danger_unstable_result_views = true;
  ipc::PluginSession view_session(UniqueFd(::dup(view_plugin.fd())), view_options);
  if (!shared_session.Handshake({}).ok() || !memfd_session.Handshake({}).ok() ||
      !view_session.Handshake({}).ok()) {
    Die("handshake");
  }
  auto session_sum = [&](ipc::PluginSession& session, const ipc::Payload& input) {
    auto out = session.Call("sum", input, absl::Seconds(30));
    if (!out.ok() || out->size() != 8) Die("session call");
    return GetU64(out->ToString(), 0);
  };
  // AcquireInput is timed; producing the bytes in place is not (as for the socket path).
  auto acquired_call = [&](ipc::PluginSession& session, bool want_shared) {
    auto a0 = Clock::now();
    auto in = session.AcquireInput(size);
    if (!in.ok() || in->is_shared() != want_shared) Die("AcquireInput");
    double acquire = Secs(a0);
    std::memcpy(in->data().data(), src.data(), size);  // production
    auto t0 = Clock::now();
    auto out = session.Call("sum", std::move(*in), absl::Seconds(30));
    if (!out.ok() || out->size() != 8) Die("session call");
    double t = acquire + Secs(t0);
    check(GetU64(out->ToString(), 0));
    return t;
  };
  add("Call: Payload copied into a new memfd (before)", [&] {
    auto t0 = Clock::now();
    uint64_t sum = session_sum(memfd_session, ipc::Payload::Borrowed({src.data(), size}));
    double t = Secs(t0);
    check(sum);
    return t;
  });
  add("Call: AcquireInput memfd fallback, in place",
      [&] { return acquired_call(memfd_session, false); });
  add("Call: AcquireInput shared buffer, in place",
      [&] { return acquired_call(shared_session, true); });
  // The rows above start from an idle session (other paths ran in between), whose background
  // reader holds the receive role and must hand it to the caller. A host calling back to back
  // does not pay that: one untimed small call just before.
  add("Call: shared buffer, in place, session busy", [&] {
    if (!shared_session.CallBytes("sum", "12345678", absl::Seconds(30)).ok()) Die("warm call");
    return acquired_call(shared_session, true);
  });

  // Plugin -> host: the plugin writes the result in place (Plugin::AcquireOutput); the host
  // checksums the Payload Call() returns. Production (the plugin's copy from its bytes) is
  // subtracted, as the socket rows start from bytes ready in the sender's buffer.
  auto produced_call = [&](ipc::PluginSession& session, bool want_shared) {
    *production_ns = 0;
    auto t0 = Clock::now();
    auto out = session.Call("produce", ipc::Payload(U64(size)), absl::Seconds(30));
    if (!out.ok() || out->size() != size || out->is_owned_view() != want_shared) {
      Die("produce call");
    }
    uint64_t sum = Checksum(out->data().data(), out->size());
    double t = Secs(t0) - static_cast<double>(*production_ns) * 1e-9;
    check(sum);
    return t;
  };
  add("Call result: memfd (no opt-in), in place",
      [&] { return produced_call(memfd_session, false); });
  add("Call result: shared buffer, in place, host copies",
      [&] { return produced_call(shared_session, true); });
  add("Call result: shared buffer, in place, host copies, busy", [&] {
    if (!shared_session.CallBytes("sum", "12345678", absl::Seconds(30)).ok()) Die("warm call");
    return produced_call(shared_session, true);
  });
  // The same without the copy: the host checksums the plugin's buffer in place. Not a safe
  // default (the plugin can change the bytes as they are read), so an option named Danger.
  add("Call result: DANGER unstable view, no copy",
      [&] { return produced_call(view_session, true); });
  add("Call result: DANGER unstable view, no copy, busy", [&] {
    if (!view_session.CallBytes("sum", "12345678", absl::Seconds(30)).ok()) Die("warm call");
    return produced_call(view_session, true);
  });

  for (int r = 0; r < reps + 1; ++r) {  // round 0 warms up
    for (auto& p : paths) {
      double t = p->run();
      if (r > 0) p->samples.push_back(t);
    }
  }

  const double mib = static_cast<double>(size) / (1 << 20);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double sock_reused_t = median(paths[2]->samples);
  double sock_fresh_t = median(paths[3]->samples);
  std::printf("%3.0f MiB, median of %d rounds                 %-10s %-11s %-14s %-14s\n", mib, reps,
              "time", "GiB/s", "vs socket reused", "vs socket fresh");
  for (auto& p : paths) {
    double t = median(p->samples);
    std::printf("%3.0f MiB  %-56s %9.3f ms %7.2f GiB/s   %6.2fx   %6.2fx\n", mib, p->name.c_str(),
                t * 1e3, mib / 1024 / t, sock_reused_t / t, sock_fresh_t / t);
  }
  if (pool.misses() != 0) Die("pool miss");
  ::munmap(page, 4096);
}

}  // namespace

void RunPayloadBench(int reps) {
  std::printf(
      "\n== payload transfer to another process (receiver checksums every byte; paths\n"
      "   interleaved round-robin; speedup = socket time / path time, goal >= 3x)\n");
  std::printf("   shmem_enabled: %s\n", ShmemThp().c_str());
  for (size_t size : {size_t{1} << 20, size_t{64} << 20}) {
    RunSize(size, reps > 0 ? reps : (size <= (1u << 20) ? 300 : 31));
  }
}

}  // namespace cordon::bench
