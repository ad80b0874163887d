#ifndef CORDON_LAUNCHER_BROKER_TESTING_BROKER_TEST_FIXTURE_H_
#define CORDON_LAUNCHER_BROKER_TESTING_BROKER_TEST_FIXTURE_H_

// The fixture the broker's unit tests share: a granted directory tree, a loopback listener,
// and a Broker whose hooks record into the fixture (audit, quota, logs) and whose clock the
// tests step.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launcher/broker/broker.h"
#include "launcher/broker/testing/loopback_listener.h"

namespace cordon::broker {

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cordon-broker-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    std::filesystem::create_directories(root_ + "/data/out");
    std::ofstream(root_ + "/data/hello.txt") << "hello";
    std::ofstream(root_ + "/secret.txt") << "secret";
    ASSERT_NO_FATAL_FAILURE(ListenOnLoopback(16, &listener_, &port_));
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  using Caps = std::vector<std::pair<std::string, std::string>>;
  // The manifest's capabilities by default: fs.read /data, fs.write and fs.create /data/out,
  // net.connect to the listener, host.call echo/fail/big, and log.
  Caps DefaultCaps(bool with_log = true) const {
    Caps caps = {{"fs.read", "/data"},       {"fs.write", "/data/out"},
                 {"fs.create", "/data/out"}, {"net.connect", absl::StrCat("127.0.0.1:", port_)},
                 {"host.call", "echo"},      {"host.call", "fail"},
                 {"host.call", "big"}};
    if (with_log) caps.emplace_back("log", "");
    return caps;
  }

  std::unique_ptr<Broker> Make(BrokerLimits limits = {}, bool with_log = true) {
    return MakeWith(DefaultCaps(with_log), limits);
  }

  // A broker granting `requested` within bounds that allow all of DefaultCaps().
  std::unique_ptr<Broker> MakeWith(const Caps& requested, BrokerLimits limits = {}) {
    cordon::v1::CapabilityBounds bounds;
    auto* fsb = bounds.add_fs();
    fsb->set_plugin_path("/data");
    fsb->set_host_path(root_ + "/data");
    fsb->set_read(true);
    fsb->set_write(true);
    fsb->set_create(true);
    bounds.add_net_connect("127.0.0.1:1-65535");
    bounds.add_net_connect("127.0.0.2:1-65535");
    bounds.add_net_connect("svc.test:1-65535");
    bounds.add_host_functions("echo");
    bounds.add_host_functions("fail");
    bounds.add_host_functions("big");
    bounds.set_log(true);
    std::vector<cordon::v1::Capability> caps;
    for (const auto& [kind, target] : requested) {
      cordon::v1::Capability c;
      c.set_kind(kind);
      c.set_target(target);
      caps.push_back(c);
    }
    absl::StatusOr<GrantSet> grants = GrantSet::Intersect(caps, bounds);
    EXPECT_TRUE(grants.ok()) << grants.status();
    BrokerHooks hooks;
    hooks.audit = [this](const CapabilityUse& use) -> absl::Status {
      uses_.push_back(use);
      if (on_audit_) on_audit_(use);
      return audit_status_;
    };
    hooks.quota = [this](const QuotaHit& hit) {
      quotas_.push_back(hit);
      return absl::OkStatus();
    };
    hooks.host_call = [this](const std::string& name, const std::string& input,
                             absl::Duration deadline) -> absl::StatusOr<std::string> {
      if (host_call_) return host_call_(name, input, deadline);
      if (name == "echo") return absl::StrCat("echo:", input);
      if (name == "big") return std::string(100000, 'b');
      absl::Status s = absl::NotFoundError("key missing");
      s.SetPayload("cordon.dev/key", absl::Cord("k1"));
      return s;
    };
    hooks.log_sink = [this](const LogEntry& e) { logs_.push_back(e); };
    hooks.fd_scanner = [] { return FdCensus::ScanProcessTree(getpid()); };
    hooks.clock = [this] { return now_; };
    hooks.resolver = resolver_;
    absl::StatusOr<std::unique_ptr<Broker>> b = Broker::Create(*grants, limits, hooks);
    EXPECT_TRUE(b.ok()) << b.status();
    return std::move(*b);
  }

  static cordon::v1::BrokerRequest Open(
      const std::string& path,
      cordon::v1::OpenFileRequest::Mode mode = cordon::v1::OpenFileRequest::READ,
      bool create = false) {
    cordon::v1::BrokerRequest r;
    r.set_id(7);
    r.mutable_open_file()->set_path(path);
    r.mutable_open_file()->set_mode(mode);
    r.mutable_open_file()->set_create(create);
    return r;
  }
  static cordon::v1::BrokerRequest Connect(const std::string& endpoint) {
    cordon::v1::BrokerRequest r;
    r.set_id(8);
    r.mutable_connect()->set_endpoint(endpoint);
    return r;
  }
  static cordon::v1::BrokerRequest Call(const std::string& fn, const std::string& input) {
    cordon::v1::BrokerRequest r;
    r.set_id(9);
    r.mutable_host_call()->set_function(fn);
    r.mutable_host_call()->mutable_payload()->set_inline_(input);
    return r;
  }

  std::string root_;
  ipc::UniqueFd listener_;
  uint16_t port_ = 0;
  std::vector<CapabilityUse> uses_;
  std::vector<QuotaHit> quotas_;
  std::vector<LogEntry> logs_;
  absl::Status audit_status_;
  // Runs inside the audit hook: sees the world as it is when the record is written.
  std::function<void(const CapabilityUse&)> on_audit_;
  std::function<absl::StatusOr<std::string>(const std::string&, const std::string&, absl::Duration)>
      host_call_;
  // Resolves granted names (svc.test may be granted) for brokers made after it is set; unset:
  // getaddrinfo.
  EndpointMatcher::Resolver resolver_;
  // The broker's clock: tests step it instead of sleeping.
  absl::Time now_ = absl::FromUnixSeconds(1800000000);
};

// Limits under which every open after the first is refused by the request rate (the fake
// clock barely refills it) and the refusal budget is `per_second`/`burst`.
inline BrokerLimits RefusingLimits(double per_second, double burst) {
  BrokerLimits limits;
  limits.requests_per_second = 0.001;
  limits.request_burst = 1;
  limits.quota_refusals_per_second = per_second;
  limits.quota_refusal_burst = burst;
  return limits;
}

inline uint64_t CountOf(const std::vector<QuotaHit>& hits, const std::string& quota) {
  uint64_t n = 0;
  for (const QuotaHit& h : hits) n += h.quota == quota ? h.count : 0;
  return n;
}

// Passes the reply's fds over a real socketpair, as PluginSession does, and returns what the
// receiving side got.
inline std::vector<ipc::UniqueFd> RoundTrip(const BrokerReply& reply) {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  ipc::UniqueFd a(sv[0]), b(sv[1]);
  std::vector<int> raw = reply.raw_fds();
  char byte = 'r';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * raw.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * raw.size());
  memcpy(CMSG_DATA(c), raw.data(), sizeof(int) * raw.size());
  EXPECT_EQ(sendmsg(a.get(), &msg, 0), 1);
  msghdr in{};
  char rbyte;
  iovec riov{&rbyte, 1};
  alignas(cmsghdr) char rcontrol[CMSG_SPACE(sizeof(int) * 4)];
  in.msg_iov = &riov;
  in.msg_iovlen = 1;
  in.msg_control = rcontrol;
  in.msg_controllen = sizeof(rcontrol);
  EXPECT_EQ(recvmsg(b.get(), &in, MSG_CMSG_CLOEXEC), 1);
  std::vector<ipc::UniqueFd> out;
  for (cmsghdr* h = CMSG_FIRSTHDR(&in); h != nullptr; h = CMSG_NXTHDR(&in, h)) {
    size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
      out.emplace_back(fd);
    }
  }
  return out;
}

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_TESTING_BROKER_TEST_FIXTURE_H_
