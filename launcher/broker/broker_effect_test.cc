// The broker's order of work (docs/broker.md): a request is decided, then recorded, then
// performed. Whatever a request changes — a created or truncated file, a connection, a host
// function's run — happens only after its capability.use exists, never when the record cannot
// be written; an effect that fails adds a capability.result. Also: fs.create on its own, error
// answers that always decode and fit, and log lines that are not answered.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ipc/envelope_codec.h"
#include "ipc/utf8_text.h"
#include "launcher/broker/broker.h"
#include "launcher/broker/testing/broker_test_fixture.h"

namespace cordon::broker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// True when a connection is waiting on the (made non-blocking) listener.
bool ConnectionQueued(int listener) {
  ipc::UniqueFd peer(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  return peer.valid();
}

class BrokerEffectTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    ASSERT_EQ(fcntl(listener_.get(), F_SETFL, O_NONBLOCK), 0);
    std::ofstream(root_ + "/data/out/kept.txt") << "precious";
    host_call_ = [this](const std::string&, const std::string& in,
                        absl::Duration) -> absl::StatusOr<std::string> {
      ++host_calls_;
      return in;
    };
  }
  static cordon::v1::BrokerRequest Truncating(const std::string& path) {
    cordon::v1::BrokerRequest r = Open(path, cordon::v1::OpenFileRequest::WRITE);
    r.mutable_open_file()->set_truncate(true);
    return r;
  }
  int host_calls_ = 0;
};

TEST_F(BrokerEffectTest, FailingAuditLeavesEveryEffectUndone) {
  std::unique_ptr<Broker> broker = Make();
  audit_status_ = absl::UnavailableError("disk full");
  const std::string created = root_ + "/data/out/created.txt";
  struct Case {
    const char* what;
    cordon::v1::BrokerRequest request;
  };
  for (const Case& c : std::vector<Case>{
           {"truncate", Truncating("/data/out/kept.txt")},
           {"create", Open("/data/out/created.txt", cordon::v1::OpenFileRequest::WRITE, true)},
           {"connect", Connect(absl::StrCat("127.0.0.1:", port_))},
           {"call", Call("echo", "x")},
       }) {
    uses_.clear();
    BrokerReply reply = broker->HandleRequest(c.request);
    ASSERT_TRUE(reply.response.has_error()) << c.what;
    EXPECT_EQ(reply.response.error().code(), static_cast<int>(absl::StatusCode::kUnavailable))
        << c.what;
    EXPECT_TRUE(reply.fds.empty()) << c.what;
    // The one record that was attempted named the effect it would have allowed.
    ASSERT_EQ(uses_.size(), 1u) << c.what;
    EXPECT_EQ(uses_[0].effect, c.what);
    EXPECT_EQ(uses_[0].decision, Decision::kAllow);
  }
  EXPECT_EQ(Slurp(root_ + "/data/out/kept.txt"), "precious");
  EXPECT_FALSE(fs::exists(created));
  EXPECT_FALSE(ConnectionQueued(listener_.get()));
  EXPECT_EQ(host_calls_, 0);
  EXPECT_EQ(broker->held_fds(), 0u);
}

// With a working audit log, the record is written while nothing has happened yet.
TEST_F(BrokerEffectTest, RecordIsWrittenBeforeTheEffect) {
  std::unique_ptr<Broker> broker = Make();
  std::vector<std::string> seen;
  on_audit_ = [&](const CapabilityUse& use) {
    // The connect's capability.result comes after the effect (below).
    if (use.phase == CapabilityUse::Phase::kResult) return;
    seen.push_back(absl::StrCat(use.effect, ": kept=", Slurp(root_ + "/data/out/kept.txt"),
                                " created=", fs::exists(root_ + "/data/out/new.txt"), " connected=",
                                ConnectionQueued(listener_.get()), " calls=", host_calls_));
  };
  EXPECT_FALSE(broker->HandleRequest(Truncating("/data/out/kept.txt")).response.has_error());
  EXPECT_FALSE(
      broker->HandleRequest(Open("/data/out/new.txt", cordon::v1::OpenFileRequest::WRITE, true))
          .response.has_error());
  BrokerReply connected = broker->HandleRequest(Connect(absl::StrCat("127.0.0.1:", port_)));
  ASSERT_FALSE(connected.response.has_error()) << connected.response.error().message();
  EXPECT_FALSE(broker->HandleRequest(Call("echo", "x")).response.has_error());
  EXPECT_THAT(seen, ::testing::ElementsAre("truncate: kept=precious created=0 connected=0 calls=0",
                                           "create: kept= created=0 connected=0 calls=0",
                                           "connect: kept= created=1 connected=0 calls=0",
                                           // By the next record, each earlier effect has happened.
                                           "call: kept= created=1 connected=1 calls=0"));
  EXPECT_EQ(host_calls_, 1);
  // One record per request, but for the connect: no capability.result for the other effects
  // that worked, and one naming the address reached for the connect.
  ASSERT_EQ(uses_.size(), 5u);
  EXPECT_EQ(uses_[3].phase, CapabilityUse::Phase::kResult);
  EXPECT_EQ(uses_[3].effect, "connect");
  EXPECT_EQ(uses_[3].code, absl::StatusCode::kOk);
}

// A connect's capability.use lists every address that may be dialled (it is written before
// the first dial); the capability.result after it names the one the connection went to.
TEST_F(BrokerEffectTest, SuccessfulConnectRecordsTheAddressReached) {
  // Nothing listens on 127.0.0.2 at this port: the first candidate refuses, the second answers.
  resolver_ = [](const std::string& name, uint16_t) -> absl::StatusOr<std::vector<IpAddress>> {
    if (name != "svc.test") return absl::NotFoundError(name);
    return std::vector<IpAddress>{*IpAddress::Parse("127.0.0.2"), *IpAddress::Parse("127.0.0.1")};
  };
  const std::string port = absl::StrCat(port_);
  std::unique_ptr<Broker> broker = MakeWith({{"net.connect", "svc.test:" + port},
                                             {"net.connect", "127.0.0.1:" + port},
                                             {"net.connect", "127.0.0.2:" + port}});
  BrokerReply reply = broker->HandleRequest(Connect("svc.test:" + port));
  ASSERT_FALSE(reply.response.has_error()) << reply.response.error().message();
  ASSERT_EQ(reply.fds.size(), 1u);
  EXPECT_TRUE(ConnectionQueued(listener_.get()));
  ASSERT_EQ(uses_.size(), 2u);
  EXPECT_EQ(uses_[0].phase, CapabilityUse::Phase::kDecision);
  EXPECT_EQ(uses_[0].resolved, absl::StrCat("127.0.0.2:", port, ",127.0.0.1:", port));
  const CapabilityUse& result = uses_[1];
  EXPECT_EQ(result.phase, CapabilityUse::Phase::kResult);
  EXPECT_EQ(result.request_id, uses_[0].request_id);
  EXPECT_EQ(result.effect, "connect");
  EXPECT_EQ(result.code, absl::StatusCode::kOk);
  EXPECT_EQ(result.resolved, "127.0.0.1:" + port);
  EXPECT_EQ(result.reason, "");
  audit::AuditRecord record = result.ToAuditRecord();
  EXPECT_EQ(record.type(), "capability.result");
  EXPECT_EQ(record.decision(), "");

  // A connection the log cannot name is not handed over.
  uses_.clear();
  on_audit_ = [&](const CapabilityUse& use) {
    audit_status_ = use.phase == CapabilityUse::Phase::kResult ? absl::UnavailableError("disk full")
                                                               : absl::OkStatus();
  };
  BrokerReply unrecorded = broker->HandleRequest(Connect("svc.test:" + port));
  ASSERT_TRUE(unrecorded.response.has_error());
  EXPECT_EQ(unrecorded.response.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(unrecorded.response.error().message(), HasSubstr("disk full"));
  EXPECT_TRUE(unrecorded.fds.empty());
  EXPECT_EQ(uses_.size(), 2u);
  EXPECT_EQ(broker->held_fds(), 1u);  // the first connection only
}

// Whoever can rename directories on the grant's filesystem swaps the directory of a create for
// one outside the grant while the request's record is being written (in sync mode, an
// fdatasync). The file is created beneath the grant as it is at that moment, never in the
// directory checked wherever it went; a replaced directory is recorded.
TEST_F(BrokerEffectTest, CreateStaysInsideWhenItsDirectoryIsSwappedDuringTheRecord) {
  const std::string inside = root_ + "/data/out/sub";
  const std::string other = root_ + "/other";
  fs::create_directories(inside);
  fs::create_directories(other + "/sub");
  fs::create_symlink(other, root_ + "/link_out");
  std::string swap_with;
  on_audit_ = [&](const CapabilityUse& use) {
    if (use.phase != CapabilityUse::Phase::kDecision || use.effect != "create") return;
    ASSERT_EQ(syscall(SYS_renameat2, AT_FDCWD, inside.c_str(), AT_FDCWD, swap_with.c_str(),
                      RENAME_EXCHANGE),
              0);
  };
  std::unique_ptr<Broker> broker = Make();

  // The checked directory trades places with one outside.
  swap_with = other + "/sub";
  BrokerReply made =
      broker->HandleRequest(Open("/data/out/sub/x.txt", cordon::v1::OpenFileRequest::WRITE, true));
  ASSERT_FALSE(made.response.has_error()) << made.response.error().message();
  EXPECT_FALSE(fs::exists(other + "/sub/x.txt")) << "created outside the grant";
  EXPECT_TRUE(fs::is_regular_file(inside + "/x.txt"));
  ASSERT_EQ(uses_.size(), 2u);
  EXPECT_EQ(uses_[0].resolved, inside + "/x.txt");
  EXPECT_EQ(uses_[1].phase, CapabilityUse::Phase::kResult);
  EXPECT_EQ(uses_[1].code, absl::StatusCode::kOk);
  EXPECT_EQ(uses_[1].resolved, inside + "/x.txt");
  EXPECT_THAT(uses_[1].reason, HasSubstr("was replaced between the check and the create"));

  // The checked directory trades places with a symlink out of the grant.
  uses_.clear();
  swap_with = root_ + "/link_out";
  BrokerReply refused =
      broker->HandleRequest(Open("/data/out/sub/y.txt", cordon::v1::OpenFileRequest::WRITE, true));
  EXPECT_EQ(refused.response.error().code(), static_cast<int>(absl::StatusCode::kPermissionDenied))
      << refused.response.error().message();
  EXPECT_TRUE(refused.fds.empty());
  EXPECT_FALSE(fs::exists(root_ + "/link_out/y.txt")) << "created in the moved-out directory";
  EXPECT_FALSE(fs::exists(other + "/y.txt")) << "created through the symlink";
  ASSERT_EQ(uses_.size(), 2u);
  EXPECT_EQ(uses_[1].phase, CapabilityUse::Phase::kResult);
  EXPECT_EQ(uses_[1].code, absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(broker->held_fds(), 1u);  // x.txt only
}

TEST_F(BrokerEffectTest, FailedEffectAddsACapabilityResult) {
  std::unique_ptr<Broker> broker = Make();
  // The name is free when decided and taken by the time of the create.
  on_audit_ = [&](const CapabilityUse& use) {
    if (use.effect == "create") std::ofstream(root_ + "/data/out/raced.txt") << "theirs";
  };
  BrokerReply raced =
      broker->HandleRequest(Open("/data/out/raced.txt", cordon::v1::OpenFileRequest::WRITE, true));
  EXPECT_EQ(raced.response.error().code(), static_cast<int>(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(Slurp(root_ + "/data/out/raced.txt"), "theirs");
  ASSERT_EQ(uses_.size(), 2u);
  EXPECT_EQ(uses_[0].phase, CapabilityUse::Phase::kDecision);
  EXPECT_EQ(uses_[0].code, absl::StatusCode::kOk);
  EXPECT_EQ(uses_[1].phase, CapabilityUse::Phase::kResult);
  EXPECT_EQ(uses_[1].code, absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(uses_[1].request_id, uses_[0].request_id);
  EXPECT_EQ(uses_[1].ToAuditRecord().type(), "capability.result");
  EXPECT_EQ(uses_[1].ToAuditRecord().decision(), "");

  // A granted endpoint nobody listens on any more.
  on_audit_ = nullptr;
  uses_.clear();
  listener_.reset();
  BrokerReply refused = broker->HandleRequest(Connect(absl::StrCat("127.0.0.1:", port_)));
  ASSERT_TRUE(refused.response.has_error());
  ASSERT_EQ(uses_.size(), 2u);
  EXPECT_EQ(uses_[0].effect, "connect");
  EXPECT_EQ(uses_[1].phase, CapabilityUse::Phase::kResult);
  EXPECT_EQ(static_cast<int>(uses_[1].code), refused.response.error().code());
  EXPECT_FALSE(uses_[1].reason.empty());
  EXPECT_EQ(broker->held_fds(), 0u);

  // Decided failures (a missing file) stay one record.
  uses_.clear();
  EXPECT_TRUE(broker->HandleRequest(Open("/data/missing.txt")).response.has_error());
  EXPECT_EQ(uses_.size(), 1u);
}

// fs.create alone is usable: it creates new files and writes them, and nothing else.
TEST_F(BrokerEffectTest, CreateGrantAloneCreatesAndWritesNewFilesOnly) {
  std::unique_ptr<Broker> broker = MakeWith({{"fs.create", "/data/out"}});
  BrokerReply made =
      broker->HandleRequest(Open("/data/out/fresh.txt", cordon::v1::OpenFileRequest::WRITE, true));
  ASSERT_FALSE(made.response.has_error()) << made.response.error().message();
  ASSERT_EQ(made.fds.size(), 1u);
  ASSERT_EQ(write(made.fds[0].get(), "mine", 4), 4);
  EXPECT_EQ(Slurp(root_ + "/data/out/fresh.txt"), "mine");
  EXPECT_EQ(uses_.back().capability, "fs.create");
  BrokerReply rw = broker->HandleRequest(
      Open("/data/out/fresh2.txt", cordon::v1::OpenFileRequest::READ_WRITE, true));
  EXPECT_FALSE(rw.response.has_error()) << rw.response.error().message();
  // Existing files: neither written, truncated, read, nor re-created.
  for (const cordon::v1::BrokerRequest& r :
       {Open("/data/out/kept.txt", cordon::v1::OpenFileRequest::WRITE),
        Truncating("/data/out/kept.txt"), Open("/data/out/kept.txt")}) {
    BrokerReply denied = broker->HandleRequest(r);
    EXPECT_EQ(denied.response.error().code(), static_cast<int>(absl::StatusCode::kPermissionDenied))
        << denied.response.error().message();
  }
  BrokerReply again =
      broker->HandleRequest(Open("/data/out/kept.txt", cordon::v1::OpenFileRequest::WRITE, true));
  EXPECT_EQ(again.response.error().code(), static_cast<int>(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(Slurp(root_ + "/data/out/kept.txt"), "precious");
  // Only beneath its own directory.
  BrokerReply outside =
      broker->HandleRequest(Open("/data/new.txt", cordon::v1::OpenFileRequest::WRITE, true));
  EXPECT_EQ(outside.response.error().code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
}

// Host function errors with any bytes in them still decode on the plugin side and fit one
// datagram.
TEST_F(BrokerEffectTest, ErrorAnswersAlwaysDecodeAndFit) {
  std::unique_ptr<Broker> broker = Make();
  host_call_ = [](const std::string&, const std::string&,
                  absl::Duration) -> absl::StatusOr<std::string> {
    std::string message = std::string(100000, 'm') + "\xff\xfe";
    absl::Status s = absl::FailedPreconditionError("bad \xc3 start " + message);
    for (int i = 0; i < 40; ++i) {
      s.SetPayload(absl::StrCat("cordon.dev/bin", i, "\xff"),
                   absl::Cord(std::string(10000, static_cast<char>(0x80 + i))));
    }
    s.SetPayload("cordon.dev/text", absl::Cord("plain text"));
    return s;
  };
  BrokerReply r = broker->HandleRequest(Call("echo", ""));
  ASSERT_TRUE(r.response.has_error());
  const cordon::v1::Error& e = r.response.error();
  EXPECT_EQ(e.code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(ipc::IsValidUtf8(e.message()));
  EXPECT_LE(e.message().size(), BrokerReply::kMaxErrorMessageBytes);
  EXPECT_THAT(e.message(), HasSubstr("bad \\xc3 start"));
  EXPECT_THAT(e.message(), HasSubstr("...[cut, "));
  // 16 of the 41 payloads (absl does not promise which) and the count of the rest.
  EXPECT_EQ(e.details_size(), 17);
  EXPECT_EQ(e.details().at("cordon.details_dropped"), "25");
  const bool text = e.details().count("cordon.dev/text") == 1;
  if (text) {
    EXPECT_EQ(e.details().at("cordon.dev/text"), "plain text");
  }
  int hex = 0;
  for (const auto& [k, v] : e.details()) {
    EXPECT_TRUE(ipc::IsValidUtf8(k) && ipc::IsValidUtf8(v)) << k;
    if (absl::EndsWith(k, ";hex")) {
      ++hex;
      EXPECT_THAT(v, HasSubstr("...[cut, 10000 bytes]"));
      EXPECT_EQ(v.substr(0, 4), v.substr(4, 4)) << "hex of repeated bytes";
    }
  }
  EXPECT_EQ(hex, text ? 15 : 16);
  // Through the plugin's codec, as the SDK decodes it.
  cordon::v1::Envelope env;
  *env.mutable_broker_response() = r.response;
  ipc::EnvelopeCodec codec;
  absl::StatusOr<std::string> bytes = codec.Encode(env);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(codec.Decode(*bytes).ok());
}

TEST_F(BrokerEffectTest, AnswerTooLargeForADatagramBecomesAnError) {
  BrokerLimits limits;
  limits.inline_threshold = 1 << 20;  // "big" (100000 bytes) would go inline
  std::unique_ptr<Broker> broker = Make(limits);
  host_call_ = nullptr;  // the fixture's functions, "big" among them
  BrokerReply r = broker->HandleRequest(Call("big", ""));
  ASSERT_TRUE(r.response.has_error());
  EXPECT_EQ(r.response.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(r.response.error().message(), HasSubstr("cap of one message"));
  EXPECT_EQ(r.response.id(), 9u);
  EXPECT_LE(r.response.ByteSizeLong(), limits.max_reply_bytes);
}

TEST_F(BrokerEffectTest, ErrorAfterTheDeadlineIsDeadlineExceeded) {
  BrokerLimits limits;
  limits.default_host_call_timeout = absl::Nanoseconds(1);
  std::unique_ptr<Broker> broker = Make(limits);
  host_call_ = [](const std::string&, const std::string&,
                  absl::Duration) -> absl::StatusOr<std::string> {
    absl::Time until = absl::Now() + absl::Microseconds(50);
    while (absl::Now() < until) {
    }
    return absl::NotFoundError("key missing");
  };
  BrokerReply r = broker->HandleRequest(Call("echo", "x"));
  EXPECT_EQ(r.response.error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(r.response.error().message(), HasSubstr("NOT_FOUND: key missing"));
}

TEST_F(BrokerEffectTest, LogLinesWithoutAnIdAreNotAnswered) {
  std::unique_ptr<Broker> broker = Make();
  cordon::v1::BrokerRequest r;
  r.mutable_log()->set_message("fire and forget");
  EXPECT_FALSE(broker->HandleRequest(r).answer);
  r.set_id(5);
  BrokerReply answered = broker->HandleRequest(r);
  EXPECT_TRUE(answered.answer);
  EXPECT_TRUE(answered.response.has_log());
  ASSERT_EQ(logs_.size(), 2u);
  // Refused ones are recorded, not answered, either.
  std::unique_ptr<Broker> mute = Make({}, /*with_log=*/false);
  r.set_id(0);
  EXPECT_FALSE(mute->HandleRequest(r).answer);
  EXPECT_EQ(uses_.back().decision, Decision::kDeny);
}

}  // namespace
}  // namespace cordon::broker
