#include "launcher/broker/broker.h"

#include <sys/stat.h>

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ipc/payload.h"
#include "ipc/utf8_text.h"
#include "launcher/broker/net_connector.h"

namespace cordon::broker {
namespace {

// Bytes of a plugin string copied into an audit record or error before it is cut.
constexpr size_t kMaxEchoBytes = 4096;

std::string Echo(const std::string& s) { return s.substr(0, kMaxEchoBytes); }

absl::Status FloodingError() {
  return absl::ResourceExhaustedError(
      "quota broker_refusal_flood exceeded: the plugin kept sending requests past their "
      "refusals and is being killed");
}

OpenIntent IntentOf(const cordon::v1::OpenFileRequest& req) {
  OpenIntent intent;
  intent.read = req.mode() == cordon::v1::OpenFileRequest::READ ||
                req.mode() == cordon::v1::OpenFileRequest::READ_WRITE;
  intent.write = req.mode() == cordon::v1::OpenFileRequest::WRITE ||
                 req.mode() == cordon::v1::OpenFileRequest::READ_WRITE;
  intent.create = req.create();
  intent.truncate = req.truncate();
  intent.append = req.append();
  return intent;
}

std::string CapabilityFor(const OpenIntent& intent) {
  if (intent.create) return "fs.create";
  if (intent.write) return "fs.write";
  return "fs.read";
}

// Cuts at a UTF-8 sequence boundary so a cut line stays valid text.
std::string Truncate(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  absl::string_view kept = ipc::Utf8Prefix(s, max);
  return absl::StrCat(kept, "...[truncated ", s.size() - kept.size(), " bytes]");
}

}  // namespace

Broker::Broker(GrantSet grants, BrokerLimits limits, BrokerHooks hooks)
    : grants_(std::move(grants)),
      limits_(limits),
      hooks_(std::move(hooks)),
      matcher_(grants_.net(), hooks_.resolver),
      requests_(limits.requests_per_second, limits.request_burst, Now()),
      logs_(limits.logs_per_second, limits.log_burst, Now()),
      census_(limits.max_held_fds, hooks_.fd_scanner),
      refusals_(limits.quota_refusals_per_second, limits.quota_refusal_burst, Now()) {}

Broker::~Broker() { FlushQuotaCounts(); }

absl::StatusOr<std::unique_ptr<Broker>> Broker::Create(GrantSet grants, BrokerLimits limits,
                                                       BrokerHooks hooks) {
  std::unique_ptr<Broker> broker(new Broker(std::move(grants), limits, std::move(hooks)));
  for (const FsGrant& g : broker->grants_.fs()) {
    PathResolver::Options options;
    options.follow_symlinks = g.follow_symlinks;
    absl::StatusOr<PathResolver> bound = PathResolver::Open(g.bound_host_path, options);
    if (!bound.ok()) return bound.status();
    if (g.below_bound.empty()) {
      broker->resolvers_.push_back(std::move(*bound));
      continue;
    }
    absl::StatusOr<PathResolver> sub = bound->OpenSubdir(g.below_bound, options);
    if (!sub.ok()) return sub.status();
    broker->resolvers_.push_back(std::move(*sub));
  }
  return broker;
}

uint64_t Broker::held_fds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return census_.held();
}

bool Broker::flooding() const { return flooding_.load(std::memory_order_relaxed); }

QuotaHit Broker::TakePending(QuotaFold* fold) {
  QuotaHit hit = fold->last;
  hit.count = std::exchange(fold->pending, 0);
  hit.window_start = fold->first_pending;
  return hit;
}

void Broker::ReportQuota(QuotaHit hit, bool budgeted) {
  std::vector<QuotaHit> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The kill is on its way; more records would only feed the flood it stops.
    if (flooding_) return;
    absl::Time now = Now();
    std::string last = absl::StrCat(hit.quota, ": ", hit.detail);
    QuotaFold& fold = folds_[hit.quota];
    // A clock stepped backwards starts a new window rather than folding until it catches up.
    if (now < fold.last_record) fold.last_record = now - absl::Seconds(1);
    if (now - fold.last_record >= absl::Seconds(1)) {
      // The window's first refusal is recorded at once, with the ones folded before it.
      if (fold.pending > 0) {
        hit.count = fold.pending + 1;
        hit.window_start = fold.first_pending;
        fold.pending = 0;
      }
      fold.last_record = now;
      due.push_back(std::move(hit));
    } else {
      if (fold.pending++ == 0) fold.first_pending = now;
      fold.last = std::move(hit);
    }
    if (budgeted) {
      ++refusals_total_;
      if (!refusals_.TryTake(now)) {
        flooding_ = true;
        // The folded counts go first, so every refusal is counted before the plugin dies.
        for (auto& [name, f] : folds_) {
          if (f.pending > 0) due.push_back(TakePending(&f));
        }
        QuotaHit kill;
        kill.quota = "broker_refusal_flood";
        kill.limit = static_cast<uint64_t>(limits_.quota_refusals_per_second);
        kill.observed = refusals_total_;
        kill.count = refusals_total_;
        kill.action = "killed";
        kill.detail = absl::StrCat(refusals_total_, " requests refused for quotas (budget ",
                                   limits_.quota_refusals_per_second, "/s, burst ",
                                   limits_.quota_refusal_burst,
                                   "): the plugin kept sending past its refusals; last: ", last);
        due.push_back(std::move(kill));
      }
    }
  }
  if (!hooks_.quota) return;
  for (const QuotaHit& h : due) (void)hooks_.quota(h);
}

void Broker::FlushQuotaCounts() {
  std::vector<QuotaHit> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, fold] : folds_) {
      if (fold.pending > 0) due.push_back(TakePending(&fold));
    }
  }
  if (!hooks_.quota) return;
  for (const QuotaHit& h : due) (void)hooks_.quota(h);
}

absl::Status Broker::Admit() {
  QuotaHit hit;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (limits_.max_concurrent != 0 && in_flight_ >= limits_.max_concurrent) {
      hit = {"broker_concurrent_requests", limits_.max_concurrent, uint64_t{in_flight_} + 1,
             "too many broker requests at once"};
    } else if (!requests_.TryTake(Now())) {
      hit = {"broker_request_rate", static_cast<uint64_t>(limits_.requests_per_second), 0,
             absl::StrCat("more than ", limits_.requests_per_second, " requests/s (burst ",
                          limits_.request_burst, ")")};
    } else {
      ++in_flight_;
      return absl::OkStatus();
    }
  }
  std::string message = absl::StrCat("quota ", hit.quota, " exceeded: ", hit.detail);
  ReportQuota(std::move(hit), /*budgeted=*/true);
  return absl::ResourceExhaustedError(message);
}

absl::Status Broker::ReserveFd() {
  uint64_t observed = 0;
  absl::Status s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = census_.Reserve(&observed);
  }
  if (s.ok()) return s;
  ReportQuota({"broker_held_fds", limits_.max_held_fds, observed, std::string(s.message())},
              /*budgeted=*/true);
  return absl::ResourceExhaustedError(
      absl::StrCat("quota broker_held_fds exceeded: ", s.message()));
}

void Broker::SettleFd(const ipc::UniqueFd* fd) {
  struct stat st;
  // Without a limit the identity is not needed; skip the fstat on the hot path.
  bool handed = fd != nullptr && fd->valid() &&
                (limits_.max_held_fds == 0 ? (st = {}, true) : fstat(fd->get(), &st) == 0);
  std::lock_guard<std::mutex> lock(mu_);
  if (handed) {
    census_.Commit(st);
  } else {
    census_.Cancel();
  }
}

absl::Status Broker::PrepareOpen(const cordon::v1::OpenFileRequest& req, CapabilityUse* use,
                                 Pending* pending) {
  OpenIntent intent = IntentOf(req);
  if (absl::StatusOr<int> flags = PathResolver::FlagsFor(intent); !flags.ok()) {
    return flags.status();
  }
  absl::StatusOr<std::vector<std::string>> parts = PathResolver::SplitPluginPath(req.path());
  if (!parts.ok()) return parts.status();
  std::vector<std::string> rest;
  absl::StatusOr<size_t> grant = grants_.MatchPath(*parts, intent, &rest);
  if (!grant.ok()) return grant.status();
  const PathResolver& resolver = resolvers_[*grant];
  // For the record only: the decision is openat2's, beneath the grant's directory fd.
  use->resolved = resolver.host_dir();
  for (const std::string& c : rest) absl::StrAppend(&use->resolved, "/", c);
  absl::StatusOr<PathResolver::PendingOpen> prepared = resolver.Prepare(rest, intent);
  // Escapes and non-regular files are policy denials; a missing file (or, for a create, an
  // existing one) is an allowed request that failed.
  if (prepared.ok() || absl::IsNotFound(prepared.status()) ||
      absl::IsAlreadyExists(prepared.status())) {
    use->decision = Decision::kAllow;
  }
  if (!prepared.ok()) return prepared.status();
  pending->resolver = &resolver;
  pending->effect = prepared->EffectName();
  pending->open = std::move(*prepared);
  return absl::OkStatus();
}

absl::Status Broker::PrepareConnect(const cordon::v1::ConnectRequest& req, CapabilityUse* use,
                                    Pending* pending) {
  absl::StatusOr<ConnectTarget> target = matcher_.Match(req.endpoint());
  if (!target.ok()) {
    // A granted name that does not resolve is allowed-but-failed, not a denial.
    if (absl::IsUnavailable(target.status()) || absl::IsNotFound(target.status())) {
      use->decision = Decision::kAllow;
    }
    return target.status();
  }
  use->decision = Decision::kAllow;
  // The record is written before any dialling, so it names every address that may be tried,
  // in order; the connection goes to the first that answers, named by the capability.result
  // written once it is made.
  if (target->is_unix) {
    use->resolved = absl::StrCat("unix:", target->unix_path);
  } else {
    for (const IpAddress& a : target->addresses) {
      absl::StrAppend(&use->resolved, use->resolved.empty() ? "" : ",",
                      a.ToStringWithPort(target->port));
    }
  }
  pending->target = std::move(*target);
  pending->effect = "connect";
  return absl::OkStatus();
}

absl::Status Broker::PrepareHostCall(const cordon::v1::HostCallRequest& req,
                                     std::vector<ipc::UniqueFd>* fds, CapabilityUse* use,
                                     Pending* pending) {
  if (!grants_.host_functions().count(req.function())) {
    return absl::PermissionDeniedError(
        absl::StrCat("host function '", absl::CEscape(Echo(req.function())), "' is not granted"));
  }
  use->resolved = req.function();
  absl::StatusOr<ipc::Payload> input =
      ipc::Payload::FromProto(req.payload(), fds, limits_.max_host_call_bytes);
  if (!input.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("host call payload rejected: ", input.status().message()));
  }
  use->decision = Decision::kAllow;
  if (!hooks_.host_call) {
    return absl::UnimplementedError("this host registered no host functions");
  }
  absl::Duration deadline =
      req.timeout_ms() > 0 ? absl::Milliseconds(std::min<uint64_t>(req.timeout_ms(), 1ull << 40))
                           : limits_.default_host_call_timeout;
  pending->deadline = std::min(deadline, limits_.max_host_call_timeout);
  pending->function = req.function();
  pending->input = input->ToString();
  pending->effect = "call";
  return absl::OkStatus();
}

absl::StatusOr<std::string> Broker::CallHost(const Pending& pending) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> out =
      hooks_.host_call(pending.function, pending.input, pending.deadline);
  // The host function cannot be pre-empted, but the plugin's deadline still holds for it:
  // whatever it returns after the deadline, success or error, the answer is
  // DEADLINE_EXCEEDED (docs/broker.md), with its own error in the message.
  if (absl::Now() - start > pending.deadline) {
    return absl::DeadlineExceededError(absl::StrCat(
        "host function '", pending.function, "' exceeded its deadline of ",
        absl::FormatDuration(pending.deadline),
        out.ok() ? "" : absl::StrCat("; it then failed with ", out.status().ToString())));
  }
  if (out.ok() && out->size() > limits_.max_host_call_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("host function '", pending.function,
                                                     "' returned ", out->size(),
                                                     " bytes, above the payload cap"));
  }
  return out;
}

absl::Status Broker::Perform(cordon::v1::BrokerRequest::RequestCase what, Pending* pending,
                             BrokerReply* reply) {
  switch (what) {
    case cordon::v1::BrokerRequest::kOpenFile: {
      absl::StatusOr<ipc::UniqueFd> fd =
          pending->resolver->Finish(std::move(pending->open), &pending->drift);
      if (!fd.ok()) return fd.status();
      reply->response.mutable_open_file()->set_fd_index(0);
      reply->fds.push_back(std::move(*fd));
      return absl::OkStatus();
    }
    case cordon::v1::BrokerRequest::kConnect: {
      absl::StatusOr<Connection> conn =
          NetConnector::Connect(pending->target, limits_.connect_timeout);
      if (!conn.ok()) return conn.status();
      pending->reached = std::move(conn->address);
      reply->response.mutable_connect()->set_fd_index(0);
      reply->fds.push_back(std::move(conn->fd));
      return absl::OkStatus();
    }
    case cordon::v1::BrokerRequest::kHostCall: {
      absl::StatusOr<std::string> out = CallHost(*pending);
      if (!out.ok()) return out.status();
      return ipc::Payload(std::move(*out))
          .ToProto(limits_.inline_threshold, reply->response.mutable_host_call()->mutable_payload(),
                   &reply->fds);
    }
    default:
      return absl::InternalError("no effect for this request");
  }
}

void Broker::RecordResult(const CapabilityUse& use, const Pending& pending, absl::Time start,
                          absl::Status* status) {
  if (!hooks_.audit) return;
  CapabilityUse result = use;
  result.phase = CapabilityUse::Phase::kResult;
  result.code = status->code();
  if (status->ok()) {
    if (!pending.reached.empty()) result.resolved = pending.reached;
    result.reason = pending.drift;
  } else {
    result.reason = std::string(status->message());
  }
  result.latency = absl::Now() - start;
  absl::Status audited = hooks_.audit(result);
  if (audited.ok()) return;
  if (status->ok()) {
    // The log could not say what the plugin would hold: it does not get it.
    *status = absl::UnavailableError(absl::StrCat(
        "the ", use.effect, " succeeded but its capability.result record could not be written (",
        audited.message(), "); the descriptor was closed unsent"));
    return;
  }
  *status = absl::Status(status->code(), absl::StrCat(status->message(),
                                                      " (and its capability.result record "
                                                      "could not be written: ",
                                                      audited.message(), ")"));
}

BrokerReply Broker::HandleRequest(const cordon::v1::BrokerRequest& request,
                                  std::vector<ipc::UniqueFd> fds) {
  const absl::Time start = absl::Now();
  BrokerReply reply;
  reply.response.set_id(request.id());
  const bool is_log = request.request_case() == cordon::v1::BrokerRequest::kLog;
  // A log line sent without an id is fire-and-forget: a plugin logging while it computes
  // reads no answers, and unread answers would fill its channel until the host's bounded
  // send declares a flood. Its outcome is in the audit record (and quota records) instead.
  if (is_log && request.id() == 0) reply.answer = false;
  // Deliberately unrecorded: the one broker_refusal_flood record stands for the rest, and a
  // record each would feed the flood until the kill lands.
  if (flooding()) {
    BrokerReply::FillError(FloodingError(), reply.response.mutable_error());
    return reply;
  }
  if (is_log) {
    // Logs have their own rate limit and never carry fds.
    const cordon::v1::LogRequest& log = request.log();
    absl::Status status = Log(request.id(), log.level(), log.message(), &log.fields());
    if (status.ok()) {
      reply.response.mutable_log();
    } else {
      BrokerReply::FillError(status, reply.response.mutable_error());
    }
    return reply;
  }
  CapabilityUse use;
  use.request_id = request.id();
  switch (request.request_case()) {
    case cordon::v1::BrokerRequest::kOpenFile:
      use.capability = CapabilityFor(IntentOf(request.open_file()));
      use.target = Echo(request.open_file().path());
      break;
    case cordon::v1::BrokerRequest::kConnect:
      use.capability = "net.connect";
      use.target = Echo(request.connect().endpoint());
      break;
    case cordon::v1::BrokerRequest::kHostCall:
      use.capability = "host.call";
      use.target = Echo(request.host_call().function());
      break;
    default:
      use.capability = "unknown";
      break;
  }

  // 1. Decide: grants, quotas, resolution; nothing outside the broker changes yet (a plain
  // open's fd exists, but opening changed nothing).
  absl::Status status = Admit();
  const bool admitted = status.ok();
  bool fd_reserved = false;
  Pending pending;
  if (admitted) {
    switch (request.request_case()) {
      case cordon::v1::BrokerRequest::kOpenFile:
      case cordon::v1::BrokerRequest::kConnect:
        status = ReserveFd();
        if (!status.ok()) break;
        fd_reserved = true;
        status = request.request_case() == cordon::v1::BrokerRequest::kOpenFile
                     ? PrepareOpen(request.open_file(), &use, &pending)
                     : PrepareConnect(request.connect(), &use, &pending);
        break;
      case cordon::v1::BrokerRequest::kHostCall:
        status = PrepareHostCall(request.host_call(), &fds, &use, &pending);
        break;
      default:
        status = absl::InvalidArgumentError(
            "broker request names no operation (open_file, connect or host_call)");
        break;
    }
  }
  use.latency = absl::Now() - start;
  use.code = status.code();
  if (!status.ok()) use.reason = std::string(status.message());
  if (status.ok()) use.effect = pending.effect;

  // 2. Record, before any effect and any answer: without the record nothing happens, and a
  // launcher killed after this point leaves a record of what it was about to do.
  if (hooks_.audit) {
    absl::Status audited = hooks_.audit(use);
    if (!audited.ok()) {
      pending = Pending();  // closes a plain open's fd; nothing was created or changed
      status = absl::UnavailableError(absl::StrCat(
          "request denied: the audit record could not be written (", audited.message(), ")"));
    }
  }
  // 3. The effect: create / truncate, connect, call. A failure here is recorded on its own,
  // and so is what a success reached that the record could not name in advance.
  if (status.ok()) {
    status = Perform(request.request_case(), &pending, &reply);
    if (!status.ok() || !pending.reached.empty() || !pending.drift.empty()) {
      RecordResult(use, pending, start, &status);
    }
  }
  if (fd_reserved) SettleFd(status.ok() && !reply.fds.empty() ? &reply.fds[0] : nullptr);
  if (admitted) {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
  }
  if (!status.ok()) {
    reply.response.clear_response();
    reply.fds.clear();
    BrokerReply::FillError(status, reply.response.mutable_error());
  }
  reply.Bound(limits_.max_reply_bytes);
  return reply;
}

void Broker::HandleLog(const cordon::v1::LogMessage& message) {
  if (flooding()) return;
  (void)Log(0, message.level(), message.message(), nullptr);
}

void Broker::HandleOutput(bool is_stderr, std::string_view line, bool cut) {
  if (flooding()) return;
  if (!grants_.log()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (output_discarded_++ != 0) return;
  }
  google::protobuf::Map<std::string, std::string> fields;
  fields["stream"] = is_stderr ? "stderr" : "stdout";
  if (cut) fields["cut"] = "true";
  (void)Log(0, is_stderr ? cordon::v1::LogMessage::WARNING : cordon::v1::LogMessage::INFO,
            std::string(line), &fields, /*plugin_output=*/true);
}

absl::Status Broker::Log(uint64_t request_id, int level_value, const std::string& message,
                         const google::protobuf::Map<std::string, std::string>* fields,
                         bool plugin_output) {
  absl::Time start = absl::Now();
  CapabilityUse use;
  use.request_id = request_id;
  use.capability = "log";
  std::string level;
  if (cordon::v1::LogMessage::Level_IsValid(level_value) &&
      level_value != cordon::v1::LogMessage::LEVEL_UNSPECIFIED) {
    level =
        cordon::v1::LogMessage::Level_Name(static_cast<cordon::v1::LogMessage::Level>(level_value));
  } else {
    level = "INFO";
  }
  use.target = level;
  // Returns the answer: `status`, or a denial when the record cannot be written.
  auto audit = [&](const absl::Status& status) -> absl::Status {
    use.latency = absl::Now() - start;
    use.code = status.code();
    if (!status.ok()) use.reason = std::string(status.message());
    if (hooks_.audit) {
      absl::Status audited = hooks_.audit(use);
      if (!audited.ok()) {
        return absl::UnavailableError(absl::StrCat(
            "log dropped: the audit record could not be written (", audited.message(), ")"));
      }
    }
    return status;
  };
  if (!grants_.log()) {
    return audit(absl::PermissionDeniedError(
        plugin_output
            ? "log is not granted to this plugin, so its stdout and stderr output is "
              "discarded (request capability kind \"log\" under a profile that allows logs)"
            : "log is not granted to this plugin"));
  }
  uint64_t dropped_before = 0;
  bool dropped = false;
  bool first_drop = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!logs_.TryTake(Now())) {
      dropped = true;
      first_drop = logs_dropped_++ == 0;
    } else {
      dropped_before = std::exchange(logs_dropped_, 0);
    }
  }
  if (dropped) {
    absl::Status exhausted = absl::ResourceExhaustedError(
        "quota broker_log_rate exceeded: lines are dropped until the rate falls");
    // One capability.use per burst of drops: auditing every dropped line would hand the plugin
    // the very flood the limit exists to stop. The count rides on the next line that passes,
    // and on the folded quota.violation. Dropped lines cost no record each, so they are not
    // charged to the refusal budget.
    ReportQuota({"broker_log_rate", static_cast<uint64_t>(limits_.logs_per_second), 0,
                 "plugin log lines dropped until the rate falls"},
                /*budgeted=*/false);
    return first_drop ? audit(exhausted) : exhausted;
  }
  LogEntry entry;
  entry.level = level;
  entry.message = Truncate(message, limits_.max_log_message_bytes);
  entry.dropped_before = dropped_before;
  if (fields != nullptr) {
    for (const auto& [key, value] : *fields) {
      if (entry.fields.size() >= limits_.max_log_fields) {
        entry.fields["cordon.fields_dropped"] =
            absl::StrCat(fields->size() - limits_.max_log_fields);
        break;
      }
      entry.fields[Truncate(key, 128)] = Truncate(value, limits_.max_log_field_bytes);
    }
  }
  use.decision = Decision::kAllow;
  use.resolved = Truncate(message, 256);
  absl::Status answer = audit(absl::OkStatus());
  if (!answer.ok()) return answer;
  if (hooks_.log_sink) hooks_.log_sink(entry);
  return absl::OkStatus();
}

}  // namespace cordon::broker
