#include "launcher/broker/broker.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/broker/testing/broker_test_fixture.h"

namespace cordon::broker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST_F(BrokerTest, OpenAllowedFdGoesBackAndIsAudited) {
  std::unique_ptr<Broker> broker = Make();
  BrokerReply reply = broker->HandleRequest(Open("/data/hello.txt"));
  ASSERT_FALSE(reply.response.has_error()) << reply.response.error().message();
  EXPECT_EQ(reply.response.id(), 7u);
  ASSERT_TRUE(reply.response.has_open_file());
  ASSERT_EQ(reply.fds.size(), 1u);
  std::vector<ipc::UniqueFd> got = RoundTrip(reply);
  ASSERT_EQ(got.size(), 1u);
  char buf[16] = {};
  ASSERT_EQ(pread(got[0].get(), buf, sizeof(buf), 0), 5);
  EXPECT_STREQ(buf, "hello");
  EXPECT_NE(fcntl(got[0].get(), F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_EQ(uses_.size(), 1u);
  EXPECT_EQ(uses_[0].capability, "fs.read");
  EXPECT_EQ(uses_[0].target, "/data/hello.txt");
  EXPECT_EQ(uses_[0].resolved, root_ + "/data/hello.txt");
  EXPECT_EQ(uses_[0].decision, Decision::kAllow);
  EXPECT_EQ(uses_[0].request_id, 7u);
  EXPECT_EQ(broker->held_fds(), 1u);
}

TEST_F(BrokerTest, OpenDeniedCasesEachAudited) {
  std::unique_ptr<Broker> broker = Make();
  ::symlink((root_ + "/secret.txt").c_str(), (root_ + "/data/link").c_str());
  struct Case {
    cordon::v1::BrokerRequest request;
    absl::StatusCode code;
  };
  std::vector<Case> cases = {
      {Open("/secret.txt"), absl::StatusCode::kPermissionDenied},
      {Open("/data/../secret.txt"), absl::StatusCode::kPermissionDenied},
      {Open("/data/link"), absl::StatusCode::kPermissionDenied},
      {Open("/proc/self/root/etc/passwd"), absl::StatusCode::kPermissionDenied},
      {Open("/data/hello.txt", cordon::v1::OpenFileRequest::WRITE),
       absl::StatusCode::kPermissionDenied},
      {Open("/data/new.txt", cordon::v1::OpenFileRequest::WRITE, true),
       absl::StatusCode::kPermissionDenied},
      {Open("/data/hello.txt", cordon::v1::OpenFileRequest::MODE_UNSPECIFIED),
       absl::StatusCode::kInvalidArgument},
      {Open(std::string("/data/hello.txt\0x", 17)), absl::StatusCode::kInvalidArgument},
      {Open("/data/" + std::string(5000, 'a')), absl::StatusCode::kInvalidArgument},
      {Open("/data/\xff"), absl::StatusCode::kInvalidArgument},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    BrokerReply reply = broker->HandleRequest(cases[i].request);
    EXPECT_TRUE(reply.fds.empty()) << i;
    ASSERT_TRUE(reply.response.has_error()) << i;
    EXPECT_EQ(reply.response.error().code(), static_cast<int>(cases[i].code))
        << i << ": " << reply.response.error().message();
    ASSERT_EQ(uses_.size(), i + 1);
    EXPECT_EQ(uses_[i].decision, Decision::kDeny) << i;
    EXPECT_FALSE(uses_[i].reason.empty()) << i;
  }
  EXPECT_EQ(broker->held_fds(), 0u);
  // Audit targets are capped, not the whole 5000 bytes... but the full request is recorded
  // up to the cap.
  EXPECT_LE(uses_[8].target.size(), 4096u);
}

TEST_F(BrokerTest, CreateAndWriteUnderTheWriteGrant) {
  std::unique_ptr<Broker> broker = Make();
  BrokerReply reply =
      broker->HandleRequest(Open("/data/out/new.txt", cordon::v1::OpenFileRequest::WRITE, true));
  ASSERT_FALSE(reply.response.has_error()) << reply.response.error().message();
  EXPECT_EQ(uses_.back().capability, "fs.create");
  ASSERT_EQ(write(reply.fds[0].get(), "x", 1), 1);
  EXPECT_TRUE(fs::exists(root_ + "/data/out/new.txt"));
  // Exclusive: a second create is an allowed request that failed.
  reply =
      broker->HandleRequest(Open("/data/out/new.txt", cordon::v1::OpenFileRequest::WRITE, true));
  EXPECT_EQ(reply.response.error().code(), static_cast<int>(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(uses_.back().decision, Decision::kAllow);
}

TEST_F(BrokerTest, FailingAuditDeniesAndClosesTheFd) {
  std::unique_ptr<Broker> broker = Make();
  audit_status_ = absl::UnavailableError("disk full");
  BrokerReply reply = broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_TRUE(reply.fds.empty());
  EXPECT_EQ(reply.response.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(reply.response.error().message(), HasSubstr("audit"));
  EXPECT_EQ(broker->held_fds(), 0u);
}

TEST_F(BrokerTest, RequestRateQuota) {
  BrokerLimits limits;
  limits.requests_per_second = 0.001;
  limits.request_burst = 2;
  std::unique_ptr<Broker> broker = Make(limits);
  EXPECT_FALSE(broker->HandleRequest(Open("/data/hello.txt")).response.has_error());
  EXPECT_FALSE(broker->HandleRequest(Open("/data/hello.txt")).response.has_error());
  BrokerReply third = broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_EQ(third.response.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  ASSERT_EQ(quotas_.size(), 1u);
  EXPECT_EQ(quotas_[0].quota, "broker_request_rate");
  ASSERT_EQ(uses_.size(), 3u);
  EXPECT_EQ(uses_[2].decision, Decision::kDeny);
  EXPECT_THAT(uses_[2].reason, HasSubstr("broker_request_rate"));
}

TEST_F(BrokerTest, HeldFdsQuotaSeesCloses) {
  BrokerLimits limits;
  limits.max_held_fds = 2;
  std::unique_ptr<Broker> broker = Make(limits);
  BrokerReply a = broker->HandleRequest(Open("/data/hello.txt"));
  BrokerReply b = broker->HandleRequest(Connect(absl::StrCat("127.0.0.1:", port_)));
  ASSERT_FALSE(a.response.has_error());
  ASSERT_FALSE(b.response.has_error()) << b.response.error().message();
  BrokerReply c = broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_EQ(c.response.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  ASSERT_EQ(quotas_.size(), 1u);
  EXPECT_EQ(quotas_[0].quota, "broker_held_fds");
  EXPECT_EQ(quotas_[0].observed, 2u);
  // The "plugin" (this process) closes the socket; the recount frees its slot.
  b.fds.clear();
  BrokerReply d = broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_FALSE(d.response.has_error()) << d.response.error().message();
}

TEST_F(BrokerTest, ConcurrencyQuota) {
  BrokerLimits limits;
  limits.max_concurrent = 1;
  std::unique_ptr<Broker> broker = Make(limits);
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  host_call_ = [&](const std::string&, const std::string& in,
                   absl::Duration) -> absl::StatusOr<std::string> {
    entered.set_value();
    released.wait();
    return in;
  };
  std::thread first([&] { broker->HandleRequest(Call("echo", "1")); });
  entered.get_future().wait();
  BrokerReply second = broker->HandleRequest(Open("/data/hello.txt"));
  release.set_value();
  first.join();
  EXPECT_EQ(second.response.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  ASSERT_EQ(quotas_.size(), 1u);
  EXPECT_EQ(quotas_[0].quota, "broker_concurrent_requests");
  // The slot is free again.
  EXPECT_FALSE(broker->HandleRequest(Open("/data/hello.txt")).response.has_error());
}

TEST_F(BrokerTest, ConnectAllowedAndDenied) {
  std::unique_ptr<Broker> broker = Make();
  BrokerReply ok = broker->HandleRequest(Connect(absl::StrCat("127.0.0.1:", port_)));
  ASSERT_FALSE(ok.response.has_error()) << ok.response.error().message();
  ASSERT_EQ(ok.fds.size(), 1u);
  ipc::UniqueFd peer(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer.valid());
  EXPECT_EQ(uses_.back().resolved, absl::StrCat("127.0.0.1:", port_));
  EXPECT_EQ(uses_.back().decision, Decision::kAllow);
  BrokerReply mapped = broker->HandleRequest(Connect(absl::StrCat("[::ffff:127.0.0.1]:", port_)));
  EXPECT_FALSE(mapped.response.has_error()) << mapped.response.error().message();
  for (std::string e : {absl::StrCat("127.0.0.1:", port_ + 1), absl::StrCat("127.1:", port_),
                        absl::StrCat("2130706433:", port_), absl::StrCat("[::1]:", port_),
                        absl::StrCat("localhost:", port_), std::string("unix:/run/x.sock")}) {
    BrokerReply r = broker->HandleRequest(Connect(e));
    EXPECT_TRUE(r.response.has_error()) << e;
    EXPECT_TRUE(r.fds.empty()) << e;
    EXPECT_EQ(uses_.back().decision, Decision::kDeny) << e;
  }
}

TEST_F(BrokerTest, HostCalls) {
  std::unique_ptr<Broker> broker = Make();
  BrokerReply r = broker->HandleRequest(Call("echo", "hi"));
  ASSERT_FALSE(r.response.has_error());
  EXPECT_EQ(r.response.host_call().payload().inline_(), "echo:hi");
  // Structured error: code, message and the status payloads as details.
  r = broker->HandleRequest(Call("fail", ""));
  ASSERT_TRUE(r.response.has_error());
  EXPECT_EQ(r.response.error().code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_EQ(r.response.error().message(), "key missing");
  EXPECT_EQ(r.response.error().details().at("cordon.dev/key"), "k1");
  EXPECT_EQ(uses_.back().decision, Decision::kAllow);
  // Large results travel as a sealed memfd.
  r = broker->HandleRequest(Call("big", ""));
  ASSERT_FALSE(r.response.has_error());
  EXPECT_TRUE(r.response.host_call().payload().has_memfd());
  ASSERT_EQ(r.fds.size(), 1u);
  // Not granted.
  r = broker->HandleRequest(Call("kv.delete", ""));
  EXPECT_EQ(r.response.error().code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(uses_.back().decision, Decision::kDeny);
}

TEST_F(BrokerTest, HostCallDeadline) {
  BrokerLimits limits;
  limits.default_host_call_timeout = absl::Nanoseconds(1);
  std::unique_ptr<Broker> broker = Make(limits);
  absl::Duration seen;
  host_call_ = [&](const std::string&, const std::string& in,
                   absl::Duration d) -> absl::StatusOr<std::string> {
    seen = d;
    absl::Time until = absl::Now() + absl::Microseconds(50);
    while (absl::Now() < until) {
    }
    return in;
  };
  BrokerReply r = broker->HandleRequest(Call("echo", "x"));
  EXPECT_EQ(seen, absl::Nanoseconds(1));
  EXPECT_EQ(r.response.error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(BrokerTest, UnknownRequest) {
  std::unique_ptr<Broker> broker = Make();
  cordon::v1::BrokerRequest r;
  r.set_id(3);
  BrokerReply reply = broker->HandleRequest(r);
  EXPECT_EQ(reply.response.error().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(uses_.back().capability, "unknown");
}

TEST_F(BrokerTest, LogsGrantedRateLimitedAndCapped) {
  BrokerLimits limits;
  limits.logs_per_second = 0.001;
  limits.log_burst = 2;
  limits.max_log_message_bytes = 16;
  std::unique_ptr<Broker> broker = Make(limits);
  cordon::v1::LogMessage m;
  m.set_level(cordon::v1::LogMessage::WARNING);
  m.set_message("short");
  broker->HandleLog(m);
  m.set_message(std::string(100, 'x'));
  broker->HandleLog(m);
  for (int i = 0; i < 5; ++i) broker->HandleLog(m);
  ASSERT_EQ(logs_.size(), 2u);
  EXPECT_EQ(logs_[0].level, "WARNING");
  EXPECT_EQ(logs_[0].message, "short");
  EXPECT_THAT(logs_[1].message, HasSubstr("truncated"));
  EXPECT_LT(logs_[1].message.size(), 60u);
  // One quota record for the whole burst of drops, not one per line.
  ASSERT_EQ(quotas_.size(), 1u);
  EXPECT_EQ(quotas_[0].quota, "broker_log_rate");
  EXPECT_EQ(uses_.size(), 3u);
}

TEST_F(BrokerTest, LogRequestsCarryFieldsAndAreAnswered) {
  BrokerLimits limits;
  limits.max_log_fields = 2;
  std::unique_ptr<Broker> broker = Make(limits);
  cordon::v1::BrokerRequest r;
  r.set_id(11);
  r.mutable_log()->set_level(cordon::v1::LogMessage::ERROR);
  r.mutable_log()->set_message("disk almost full");
  (*r.mutable_log()->mutable_fields())["a"] = "1";
  (*r.mutable_log()->mutable_fields())["b"] = "2";
  (*r.mutable_log()->mutable_fields())["c"] = "3";
  BrokerReply reply = broker->HandleRequest(r);
  EXPECT_FALSE(reply.response.has_error()) << reply.response.error().message();
  EXPECT_TRUE(reply.response.has_log());
  EXPECT_EQ(reply.response.id(), 11u);
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_EQ(logs_[0].level, "ERROR");
  EXPECT_EQ(logs_[0].message, "disk almost full");
  EXPECT_EQ(logs_[0].fields.size(), 3u);  // two kept plus the count of the dropped
  EXPECT_EQ(logs_[0].fields.at("cordon.fields_dropped"), "1");
  ASSERT_EQ(uses_.size(), 1u);
  EXPECT_EQ(uses_[0].capability, "log");
  EXPECT_EQ(uses_[0].request_id, 11u);
  EXPECT_EQ(uses_[0].decision, Decision::kAllow);
  // A failing audit drops the line and says so.
  audit_status_ = absl::UnavailableError("disk full");
  reply = broker->HandleRequest(r);
  EXPECT_EQ(reply.response.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(logs_.size(), 1u);
}

TEST_F(BrokerTest, HostCallDeadlineComesFromThePluginCappedByTheHost) {
  BrokerLimits limits;
  limits.max_host_call_timeout = absl::Seconds(3);
  std::unique_ptr<Broker> broker = Make(limits);
  absl::Duration seen;
  host_call_ = [&](const std::string&, const std::string& in,
                   absl::Duration d) -> absl::StatusOr<std::string> {
    seen = d;
    return in;
  };
  cordon::v1::BrokerRequest r = Call("echo", "x");
  r.mutable_host_call()->set_timeout_ms(1500);
  EXPECT_FALSE(broker->HandleRequest(r).response.has_error());
  EXPECT_EQ(seen, absl::Milliseconds(1500));
  r.mutable_host_call()->set_timeout_ms(60000);
  EXPECT_FALSE(broker->HandleRequest(r).response.has_error());
  EXPECT_EQ(seen, absl::Seconds(3));
}

TEST_F(BrokerTest, LogsNotGranted) {
  std::unique_ptr<Broker> broker = Make({}, /*with_log=*/false);
  cordon::v1::LogMessage m;
  m.set_message("hi");
  broker->HandleLog(m);
  EXPECT_TRUE(logs_.empty());
  ASSERT_EQ(uses_.size(), 1u);
  EXPECT_EQ(uses_[0].decision, Decision::kDeny);
}

TEST_F(BrokerTest, CreateFailsWhenAGrantedDirectoryIsMissing) {
  fs::remove_all(root_ + "/data/out");
  cordon::v1::CapabilityBounds bounds;
  auto* fsb = bounds.add_fs();
  fsb->set_plugin_path("/data");
  fsb->set_host_path(root_ + "/data");
  fsb->set_write(true);
  cordon::v1::Capability c;
  c.set_kind("fs.write");
  c.set_target("/data/out");
  absl::StatusOr<GrantSet> g = GrantSet::Intersect(std::vector<cordon::v1::Capability>{c}, bounds);
  ASSERT_TRUE(g.ok());
  absl::StatusOr<std::unique_ptr<Broker>> b = Broker::Create(*g, {}, {});
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()), HasSubstr(root_ + "/data/out"));
}

}  // namespace
}  // namespace cordon::broker

namespace cordon::broker {
namespace {

TEST_F(BrokerTest, RefusalsAreFoldedToOneRecordPerQuotaPerSecond) {
  std::unique_ptr<Broker> broker = Make(RefusingLimits(0, 0));
  const absl::Time t0 = now_;
  ASSERT_FALSE(broker->HandleRequest(Open("/data/hello.txt")).response.has_error());
  for (int i = 0; i < 10; ++i) broker->HandleRequest(Open("/data/hello.txt"));
  // The first refusal is recorded at once, on its own; the other 9 wait for the window.
  ASSERT_EQ(quotas_.size(), 1u);
  EXPECT_EQ(quotas_[0].quota, "broker_request_rate");
  EXPECT_EQ(quotas_[0].action, "denied");
  EXPECT_EQ(quotas_[0].count, 1u);
  EXPECT_EQ(quotas_[0].window_start, absl::InfinitePast());
  now_ += absl::Milliseconds(500);
  for (int i = 0; i < 5; ++i) broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_EQ(quotas_.size(), 1u);
  // Every request still has its own capability.use record (issue 5).
  EXPECT_EQ(uses_.size(), 16u);
  now_ = t0 + absl::Seconds(1);
  BrokerReply refused = broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_EQ(refused.response.error().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  ASSERT_EQ(quotas_.size(), 2u);
  EXPECT_EQ(quotas_[1].count, 15u);  // 9 + 5 folded, and this one
  EXPECT_EQ(quotas_[1].window_start, t0);
  for (int i = 0; i < 3; ++i) broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_EQ(quotas_.size(), 2u);
  broker->FlushQuotaCounts();
  ASSERT_EQ(quotas_.size(), 3u);
  EXPECT_EQ(quotas_[2].count, 3u);
  EXPECT_EQ(quotas_[2].window_start, t0 + absl::Seconds(1));
  broker->FlushQuotaCounts();
  EXPECT_EQ(quotas_.size(), 3u);
  EXPECT_EQ(CountOf(quotas_, "broker_request_rate"), 19u);
  EXPECT_EQ(uses_.size(), 20u);
  EXPECT_FALSE(broker->flooding());
}

TEST_F(BrokerTest, FoldsArePerQuotaAndFlushedByTheDestructor) {
  BrokerLimits limits;
  limits.max_held_fds = 1;
  limits.logs_per_second = 0.001;
  limits.log_burst = 1;
  std::unique_ptr<Broker> broker = Make(limits);
  BrokerReply held = broker->HandleRequest(Open("/data/hello.txt"));
  ASSERT_FALSE(held.response.has_error());
  for (int i = 0; i < 4; ++i) broker->HandleRequest(Open("/data/hello.txt"));
  cordon::v1::LogMessage m;
  m.set_message("x");
  for (int i = 0; i < 7; ++i) broker->HandleLog(m);  // 1 passes, 6 dropped
  ASSERT_EQ(quotas_.size(), 2u);
  EXPECT_EQ(quotas_[0].quota, "broker_held_fds");
  EXPECT_EQ(quotas_[1].quota, "broker_log_rate");
  broker.reset();
  ASSERT_EQ(quotas_.size(), 4u);
  EXPECT_EQ(CountOf(quotas_, "broker_held_fds"), 4u);
  EXPECT_EQ(CountOf(quotas_, "broker_log_rate"), 6u);
}

TEST_F(BrokerTest, QuotaHitRecordCarriesCountAndWindow) {
  QuotaHit hit{"broker_request_rate", 200, 0, "too fast"};
  hit.count = 42;
  hit.window_start = absl::FromUnixSeconds(1800000000);
  std::string json;
  hit.ToAuditRecord().AppendFieldsJson(&json);
  EXPECT_EQ(json,
            ",\"quota\":\"broker_request_rate\",\"limit\":200,\"action\":\"denied\","
            "\"observed\":0,\"detail\":\"too fast\",\"count\":42,"
            "\"window_start\":\"2027-01-15T08:00:00.000000000Z\"");
}

TEST_F(BrokerTest, RefusalFloodKillsOnceThenRefusesUnrecorded) {
  std::unique_ptr<Broker> broker = Make(RefusingLimits(10, 20));
  ASSERT_FALSE(broker->HandleRequest(Open("/data/hello.txt")).response.has_error());
  constexpr int kFlood = 2000;
  for (int i = 0; i < kFlood; ++i) {
    BrokerReply r = broker->HandleRequest(i % 2 ? Open("/data/hello.txt") : Call("echo", "x"));
    ASSERT_EQ(r.response.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted))
        << i;
  }
  EXPECT_TRUE(broker->flooding());
  std::vector<QuotaHit> kills;
  for (const QuotaHit& h : quotas_) {
    if (h.quota == "broker_refusal_flood") kills.push_back(h);
  }
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].action, "killed");
  // The burst of 20, then the refusal that found the budget empty.
  EXPECT_EQ(kills[0].count, 21u);
  EXPECT_EQ(kills[0].observed, 21u);
  EXPECT_EQ(kills[0].limit, 10u);
  EXPECT_THAT(kills[0].detail, HasSubstr("21 requests refused"));
  // Bounded: 1 allowed + 21 refused requests recorded, then nothing. Without the budget every
  // one of the 2000 would cost a capability.use and a quota.violation.
  EXPECT_EQ(uses_.size(), 22u);
  ASSERT_LE(quotas_.size(), 3u);
  // The refusals folded before the kill are reported with it, so all 21 are counted.
  EXPECT_EQ(CountOf(quotas_, "broker_request_rate"), 21u);
  EXPECT_EQ(quotas_.back().quota, "broker_refusal_flood");
  // Everything is refused now, logs and in-quota requests too, still without records.
  now_ += absl::Hours(1);
  BrokerReply after = broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_THAT(after.response.error().message(), HasSubstr("broker_refusal_flood"));
  EXPECT_TRUE(after.fds.empty());
  cordon::v1::LogMessage m;
  m.set_message("still here");
  broker->HandleLog(m);
  EXPECT_TRUE(logs_.empty());
  size_t before = quotas_.size();
  broker.reset();
  EXPECT_EQ(uses_.size(), 22u);
  EXPECT_EQ(quotas_.size(), before);
}

TEST_F(BrokerTest, HeldFdRefusalsCountTowardTheBudget) {
  BrokerLimits limits;
  limits.max_held_fds = 1;
  limits.quota_refusals_per_second = 1;
  limits.quota_refusal_burst = 3;
  std::unique_ptr<Broker> broker = Make(limits);
  BrokerReply held = broker->HandleRequest(Open("/data/hello.txt"));
  ASSERT_FALSE(held.response.has_error());
  for (int i = 0; i < 3; ++i) broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_FALSE(broker->flooding());
  broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_TRUE(broker->flooding());
  ASSERT_FALSE(quotas_.empty());
  EXPECT_EQ(quotas_.back().quota, "broker_refusal_flood");
  EXPECT_EQ(quotas_.back().count, 4u);
}

TEST_F(BrokerTest, RefusalsWithinTheBudgetDoNotKill) {
  std::unique_ptr<Broker> broker = Make(RefusingLimits(10, 20));
  // 5 refusals a second for a minute: 300 in all, far past the burst, never past the rate.
  // The request bucket (0.001/s) never refills enough to admit one in that time.
  for (int s = 0; s < 60; ++s) {
    for (int i = 0; i < 5; ++i) broker->HandleRequest(Open("/data/hello.txt"));
    now_ += absl::Seconds(1);
  }
  EXPECT_FALSE(broker->flooding());
  EXPECT_EQ(CountOf(quotas_, "broker_refusal_flood"), 0u);
  // One record a second, not one per refusal.
  EXPECT_LE(quotas_.size(), 61u);
  EXPECT_EQ(uses_.size(), 300u);
  broker->FlushQuotaCounts();
  EXPECT_EQ(CountOf(quotas_, "broker_request_rate"), 299u);  // the first open was allowed
  // Still serving: a request the quota allows goes through.
  now_ += absl::Hours(1);
  EXPECT_FALSE(broker->HandleRequest(Open("/data/hello.txt")).response.has_error());
}

TEST_F(BrokerTest, DefaultRefusalBudgetKillsASustainedFlood) {
  BrokerLimits defaults;
  std::unique_ptr<Broker> broker =
      Make(RefusingLimits(defaults.quota_refusals_per_second, defaults.quota_refusal_burst));
  // 300 refusals a second (what the channel's 500 messages/s leave past 200 admitted), in
  // simulated 10 ms steps.
  int sent = 0;
  for (; sent < 30000 && !broker->flooding(); ++sent) {
    broker->HandleRequest(Open("/data/hello.txt"));
    if (sent % 3 == 2) now_ += absl::Milliseconds(10);
  }
  ASSERT_TRUE(broker->flooding());
  // The burst drains at 200/s: about five seconds, never the whole 30000.
  EXPECT_GT(sent, 1400);
  EXPECT_LT(sent, 1600);
  EXPECT_EQ(CountOf(quotas_, "broker_refusal_flood"), static_cast<uint64_t>(sent - 1));
}

TEST_F(BrokerTest, ZeroRefusalBudgetNeverKills) {
  std::unique_ptr<Broker> broker = Make(RefusingLimits(0, 0));
  for (int i = 0; i < 1000; ++i) broker->HandleRequest(Open("/data/hello.txt"));
  EXPECT_FALSE(broker->flooding());
  EXPECT_EQ(quotas_.size(), 1u);
  EXPECT_EQ(uses_.size(), 1000u);
}

TEST_F(BrokerTest, ClockSteppedBackDoesNotHoldTheFoldOpen) {
  std::unique_ptr<Broker> broker = Make(RefusingLimits(0, 0));
  broker->HandleRequest(Open("/data/hello.txt"));
  broker->HandleRequest(Open("/data/hello.txt"));
  ASSERT_EQ(quotas_.size(), 1u);
  now_ -= absl::Hours(1);
  broker->HandleRequest(Open("/data/hello.txt"));
  ASSERT_EQ(quotas_.size(), 2u);
  EXPECT_EQ(CountOf(quotas_, "broker_request_rate"), 2u);
}

}  // namespace
}  // namespace cordon::broker
