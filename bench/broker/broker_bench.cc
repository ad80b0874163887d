// Brokered open and connect, side by side with direct ones, in one run.
//
// The brokered path is the whole trip a plugin's request takes: the "plugin" thread encodes a
// BrokerRequest envelope and sends it over a SOCK_SEQPACKET socketpair; the "launcher" thread
// receives, decodes, runs Broker::HandleRequest (grant check, openat2 / connect, one
// capability.use record appended to a real audit log), encodes the response and sends it with
// the fd by SCM_RIGHTS; the plugin receives, decodes and closes the fd. The floor is the same
// trip with an empty heartbeat echoed back and no broker work. Prints a table and the ratios.
//
//   cordon_bench_broker [--iterations N] [--rounds R] [--audit-dir DIR]
//   (the audit log goes to the temporary directory under /tmp unless DIR is given)

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/audit_log.h"
#include "cordon/v1/envelope.pb.h"
#include "ipc/envelope_codec.h"
#include "ipc/seqpacket_channel.h"
#include "launcher/broker/broker.h"

namespace {

using cordon::ipc::UniqueFd;
namespace broker = cordon::broker;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "cordon_bench_broker: %s\n", what.c_str());
  std::exit(1);
}

struct Case {
  Case(std::string name_in, int n_in, std::function<void()> op_in)
      : name(std::move(name_in)), n(n_in), op(std::move(op_in)) {}
  std::string name;
  int n;
  std::function<void()> op;
  std::vector<double> per_op;  // ns per op, one per round
  double median() const {
    std::vector<double> v = per_op;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
};

// Runs every case once per round, interleaved, so that load from other processes on a shared
// machine hits all cases alike; each case's result is its median round.
void RunInterleaved(int rounds, std::vector<Case*> cases) {
  for (Case* c : cases) {
    for (int i = 0; i < std::min(c->n, 200); ++i) c->op();  // warm up
  }
  for (int r = 0; r < rounds; ++r) {
    for (Case* c : cases) {
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < c->n; ++i) c->op();
      auto end = std::chrono::steady_clock::now();
      c->per_op.push_back(std::chrono::duration<double, std::nano>(end - start).count() / c->n);
    }
  }
}

// The launcher side: answers heartbeats with heartbeats (the floor) and broker requests with
// the broker's reply.
void Serve(cordon::ipc::SeqpacketChannel* channel, broker::Broker* b) {
  cordon::ipc::EnvelopeCodec codec;
  for (;;) {
    absl::StatusOr<cordon::ipc::SeqpacketChannel::Datagram> dg =
        channel->Receive(absl::InfiniteFuture());
    if (!dg.ok()) return;
    absl::StatusOr<cordon::v1::Envelope> env = codec.Decode(dg->bytes);
    if (!env.ok()) Die(std::string(env.status().message()));
    cordon::v1::Envelope out;
    std::vector<int> fds;
    broker::BrokerReply reply;
    if (env->has_broker_request()) {
      reply = b->HandleRequest(env->broker_request(), std::move(dg->fds));
      *out.mutable_broker_response() = reply.response;
      fds = reply.raw_fds();
    } else {
      out.mutable_heartbeat()->set_seq(env->heartbeat().seq());
    }
    absl::StatusOr<std::string> bytes = codec.Encode(out);
    if (!bytes.ok() || !channel->Send(*bytes, fds).ok()) Die("send failed");
  }
}

// One plugin-side request/response trip; returns the fd that came back (if any).
UniqueFd Trip(cordon::ipc::SeqpacketChannel* channel, const std::string& request_bytes) {
  static cordon::ipc::EnvelopeCodec codec;
  if (!channel->Send(request_bytes).ok()) Die("plugin send failed");
  absl::StatusOr<cordon::ipc::SeqpacketChannel::Datagram> dg =
      channel->Receive(absl::InfiniteFuture());
  if (!dg.ok()) Die(std::string(dg.status().message()));
  absl::StatusOr<cordon::v1::Envelope> env = codec.Decode(dg->bytes);
  if (!env.ok()) Die("bad response");
  if (env->has_broker_response() && env->broker_response().has_error()) {
    Die(absl::StrCat("broker denied: ", env->broker_response().error().message()));
  }
  return dg->fds.empty() ? UniqueFd() : std::move(dg->fds[0]);
}

void NoLinger(int fd) {
  // RST on close: thousands of connects must not pile up TIME_WAIT sockets and ports.
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 20000;
  int rounds = 5;
  std::string audit_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--audit-dir") == 0) audit_dir = argv[i + 1];
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
  }
  int connect_iterations = std::max(1, iterations / 20);

  char tmpl[] = "/tmp/cordon-bench-broker-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  std::string root = tmpl;
  std::filesystem::create_directories(root + "/data/sub");
  std::ofstream(root + "/data/sub/hello.txt") << "hello";

  // Loopback listener with an accept-and-close loop.
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t slen = sizeof(sin);
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&sin), slen) != 0 ||
      listen(listener.get(), 512) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sin), &slen) != 0) {
    Die("listen on 127.0.0.1");
  }
  uint16_t port = ntohs(sin.sin_port);
  std::thread acceptor([fd = listener.get()] {
    for (;;) {
      int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      close(c);
    }
  });

  cordon::v1::CapabilityBounds bounds;
  auto* fsb = bounds.add_fs();
  fsb->set_plugin_path("/data");
  fsb->set_host_path(root + "/data");
  fsb->set_read(true);
  bounds.add_net_connect(absl::StrCat("127.0.0.1:", port));
  std::vector<cordon::v1::Capability> caps(2);
  caps[0].set_kind("fs.read");
  caps[0].set_target("/data");
  caps[1].set_kind("net.connect");
  caps[1].set_target(absl::StrCat("127.0.0.1:", port));
  absl::StatusOr<broker::GrantSet> grants = broker::GrantSet::Intersect(caps, bounds);
  if (!grants.ok()) Die(std::string(grants.status().message()));

  cordon::audit::AuditLogOptions audit_options;
  audit_options.path = audit_dir.empty()
                           ? root + "/audit.jsonl"
                           : absl::StrCat(audit_dir, "/cordon-bench-broker-", getpid(), ".jsonl");
  audit_options.durability = cordon::audit::Durability::kBatch;
  absl::StatusOr<std::unique_ptr<cordon::audit::AuditLog>> audit_log =
      cordon::audit::AuditLog::Open(audit_options);
  if (!audit_log.ok()) Die(std::string(audit_log.status().message()));

  broker::BrokerLimits limits;
  limits.requests_per_second = 0;  // measuring the path, not the quota
  limits.max_held_fds = 0;
  limits.max_concurrent = 0;
  auto make_broker = [&](bool audited) {
    broker::BrokerHooks hooks;
    if (audited) {
      hooks.audit = [log = audit_log->get()](const broker::CapabilityUse& use) {
        cordon::audit::AuditRecord record = use.ToAuditRecord();
        record.SetPlugin("bench-1", "bench", "1.0.0");
        return log->Append(record);
      };
    }
    absl::StatusOr<std::unique_ptr<broker::Broker>> b =
        broker::Broker::Create(*grants, limits, hooks);
    if (!b.ok()) Die(std::string(b.status().message()));
    return std::move(*b);
  };
  std::unique_ptr<broker::Broker> audited = make_broker(true);
  std::unique_ptr<broker::Broker> unaudited = make_broker(false);

  cordon::ipc::EnvelopeCodec codec;
  cordon::v1::Envelope hb;
  hb.mutable_heartbeat()->set_seq(1);
  std::string hb_bytes = *codec.Encode(hb);
  cordon::v1::Envelope open_env;
  open_env.mutable_broker_request()->set_id(1);
  open_env.mutable_broker_request()->mutable_open_file()->set_path("/data/sub/hello.txt");
  open_env.mutable_broker_request()->mutable_open_file()->set_mode(
      cordon::v1::OpenFileRequest::READ);
  std::string open_bytes = *codec.Encode(open_env);
  cordon::v1::Envelope connect_env;
  connect_env.mutable_broker_request()->set_id(2);
  connect_env.mutable_broker_request()->mutable_connect()->set_endpoint(
      absl::StrCat("127.0.0.1:", port));
  std::string connect_bytes = *codec.Encode(connect_env);

  absl::StatusOr<std::pair<UniqueFd, UniqueFd>> pair_a =
      cordon::ipc::SeqpacketChannel::SocketPair();
  absl::StatusOr<std::pair<UniqueFd, UniqueFd>> pair_b =
      cordon::ipc::SeqpacketChannel::SocketPair();
  if (!pair_a.ok() || !pair_b.ok()) Die("socketpair");
  cordon::ipc::SeqpacketChannel plugin_a(std::move(pair_a->first));
  cordon::ipc::SeqpacketChannel launcher_a(std::move(pair_a->second));
  cordon::ipc::SeqpacketChannel plugin_b(std::move(pair_b->first));
  cordon::ipc::SeqpacketChannel launcher_b(std::move(pair_b->second));
  std::thread server_a([&] { Serve(&launcher_a, audited.get()); });
  std::thread server_b([&] { Serve(&launcher_b, unaudited.get()); });

  UniqueFd dir(open((root + "/data").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::string abs_path = root + "/data/sub/hello.txt";
  Case floor{"socket round-trip floor (heartbeat echo, same framing)", iterations,
             [&] { Trip(&plugin_a, hb_bytes); }};
  Case direct_open{"direct openat(dirfd, \"sub/hello.txt\") + close", iterations, [&] {
                     int fd = openat(dir.get(), "sub/hello.txt", O_RDONLY | O_CLOEXEC);
                     if (fd < 0) Die("openat");
                     close(fd);
                   }};
  Case direct_open_abs{"direct open(absolute path) + close", iterations, [&] {
                         int fd = open(abs_path.c_str(), O_RDONLY | O_CLOEXEC);
                         if (fd < 0) Die("open");
                         close(fd);
                       }};
  Case open_noaudit{"brokered open, no audit hook", iterations, [&] {
                      UniqueFd fd = Trip(&plugin_b, open_bytes);
                      if (!fd.valid()) Die("no fd");
                    }};
  Case open{"brokered open + capability.use record", iterations, [&] {
              UniqueFd fd = Trip(&plugin_a, open_bytes);
              if (!fd.valid()) Die("no fd");
            }};
  Case direct_connect{"direct connect 127.0.0.1 + close", connect_iterations, [&] {
                        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                        if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) {
                          Die("connect");
                        }
                        NoLinger(fd);
                        close(fd);
                      }};
  Case connect{"brokered connect + capability.use record", connect_iterations, [&] {
                 UniqueFd fd = Trip(&plugin_a, connect_bytes);
                 NoLinger(fd.get());
               }};
  RunInterleaved(rounds, {&floor, &direct_open, &direct_open_abs, &open_noaudit, &open,
                          &direct_connect, &connect});
  plugin_a.Close();
  plugin_b.Close();
  server_a.join();
  server_b.join();

  std::printf("cordon broker benchmark: %d rounds x %d ops (connect: %d ops), median round\n",
              rounds, iterations, connect_iterations);
  for (Case* c :
       {&floor, &direct_open, &direct_open_abs, &open_noaudit, &open, &direct_connect, &connect}) {
    std::printf("  %-56s %9.2f us\n", c->name.c_str(), c->median() / 1000);
  }
  std::printf("ratios\n");
  std::printf("  brokered open / round-trip floor      %6.2fx  (goal <= 3x)\n",
              open.median() / floor.median());
  std::printf("  brokered open / direct openat         %6.2fx\n",
              open.median() / direct_open.median());
  std::printf("  brokered connect / direct connect     %6.2fx\n",
              connect.median() / direct_connect.median());

  shutdown(listener.get(), SHUT_RDWR);
  acceptor.join();

  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  if (!audit_dir.empty()) unlink(audit_options.path.c_str());
  return 0;
}
