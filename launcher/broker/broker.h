#ifndef CORDON_LAUNCHER_BROKER_BROKER_H_
#define CORDON_LAUNCHER_BROKER_BROKER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cordon/v1/broker.pb.h"
#include "cordon/v1/envelope.pb.h"
#include "ipc/unique_fd.h"
#include "launcher/broker/broker_reply.h"
#include "launcher/broker/capability_use.h"
#include "launcher/broker/endpoint_matcher.h"
#include "launcher/broker/fd_census.h"
#include "launcher/broker/grant_set.h"
#include "launcher/broker/path_resolver.h"
#include "launcher/broker/token_bucket.h"

namespace cordon::broker {

struct BrokerLimits {
  // Request rate (open, connect, host call): sustained per second and burst. 0: unlimited.
  double requests_per_second = 200;
  double request_burst = 400;
  // Brokered fds the plugin may hold at once (see FdCensus). 0: unlimited.
  uint64_t max_held_fds = 64;
  // Requests being handled at once (matters when the caller dispatches them to threads).
  uint32_t max_concurrent = 8;
  // Plugin log lines: sustained per second and burst; excess lines are dropped.
  double logs_per_second = 100;
  double log_burst = 200;
  size_t max_log_message_bytes = 4096;
  size_t max_log_fields = 32;
  size_t max_log_field_bytes = 1024;
  absl::Duration connect_timeout = absl::Seconds(5);
  // A host call's deadline is the plugin's, capped here; 0 from the plugin means the default.
  absl::Duration default_host_call_timeout = absl::Seconds(5);
  absl::Duration max_host_call_timeout = absl::Seconds(30);
  uint64_t max_host_call_bytes = 1 << 20;
  // Host call results larger than this go back as a sealed memfd.
  size_t inline_threshold = 16 * 1024;
  // An answer (BrokerResponse) larger than this is replaced by an error saying so: below the
  // 64 KiB datagram cap with room for the envelope around it.
  size_t max_reply_bytes = 60 * 1024;
  // Requests refused for a quota (request rate, concurrency, held fds) a plugin may make:
  // sustained per second and burst. Each refusal still costs a capability.use record, so a
  // plugin that keeps sending past its refusals could fill the audit disk; beyond this budget
  // it is killed (quota broker_refusal_flood). 0: never killed for refusals.
  double quota_refusals_per_second = 100;
  double quota_refusal_burst = 1000;
};

struct BrokerHooks {
  // Writes one capability.use record (or capability.result, CapabilityUse::phase). Called
  // before the request has any effect and before the answer (and any fd) goes back; a failure
  // turns the answer into a denial, closes the fd and leaves the effect undone. A
  // capability.result that cannot be written after a successful effect (a connect, a create
  // in a replaced directory) turns the answer into UNAVAILABLE and closes the fd unsent.
  // Unset: nothing is recorded.
  std::function<absl::Status(const CapabilityUse&)> audit;
  // Writes one quota.violation record (QuotaHit::ToAuditRecord); its status is ignored because
  // the request is denied either way. Refusals are folded (at most one call per quota per
  // second, `count` refusals each; the rest at FlushQuotaCounts). Action "killed"
  // (broker_refusal_flood, called once) means the host must kill the plugin: the broker
  // refuses all its later requests without records. Called on the requesting thread, and from
  // FlushQuotaCounts and the destructor.
  std::function<absl::Status(const QuotaHit&)> quota;
  // Runs a host function registered by name through the host API. Errors go back to the
  // plugin as structured errors (code, message, status payloads as details).
  std::function<absl::StatusOr<std::string>(const std::string& name, const std::string& input,
                                            absl::Duration deadline)>
      host_call;
  // Receives plugin logs that passed the grant and rate checks.
  std::function<void(const LogEntry&)> log_sink;
  // Lists the files the plugin currently holds (e.g. FdCensus::ScanProcessTree(pid)); lets the
  // held-fds quota see closes. Unset: brokered fds are counted as held forever.
  FdCensus::Scanner fd_scanner;
  // Resolves granted names; unset: getaddrinfo.
  EndpointMatcher::Resolver resolver;
  // The time quotas and record folding go by; unset: absl::Now. Lets tests step time.
  std::function<absl::Time()> clock;
};

// Checks and performs a plugin's requests against its grants: opens files (PathResolver),
// connects (EndpointMatcher + NetConnector), calls host functions, forwards logs. Every request
// yields one CapabilityUse to the audit hook once it is decided and before it has any effect
// (a file created or truncated, a connection, a host function run) or answer; an effect that
// then fails adds a capability.result record, and so does a connect that succeeds (naming the
// address reached) and a create whose directory was replaced in between. Every quota hit
// yields one QuotaHit plus a denial. Thread-safe: requests may be handled concurrently.
class Broker {
 public:
  // Opens every granted directory once (O_PATH); fails if one is missing or escapes its bound.
  static absl::StatusOr<std::unique_ptr<Broker>> Create(GrantSet grants, BrokerLimits limits,
                                                        BrokerHooks hooks);
  // Flushes the folded quota counts (FlushQuotaCounts).
  ~Broker();

  // `fds` are the fds that arrived with the request (a host call's memfd payload). A log
  // request with id 0 gets a reply with answer == false: send nothing back.
  BrokerReply HandleRequest(const cordon::v1::BrokerRequest& request,
                            std::vector<ipc::UniqueFd> fds = {});
  // A LogMessage envelope from the plugin (no answer goes back). LogRequest broker requests
  // (level, message, fields) go through HandleRequest and take the same path.
  void HandleLog(const cordon::v1::LogMessage& message);
  // One line of the plugin's stdout (INFO) or stderr (WARNING), field `stream` (and `cut` for a
  // line cut at its length bound): the same grant,
  // rate limit and record as a log line. Without the log grant the output is discarded, and
  // only the first line discarded is recorded (a denial naming the reason), so a plugin
  // cannot turn its output into one denial record per line.
  void HandleOutput(bool is_stderr, std::string_view line, bool cut);

  const GrantSet& grants() const { return grants_; }
  const BrokerLimits& limits() const { return limits_; }
  uint64_t held_fds() const;
  // Reports the refusals still folded, one QuotaHit per quota, so none goes uncounted. Call
  // when the plugin exits (before its exit record); the destructor calls it too.
  void FlushQuotaCounts();
  // True once the plugin exceeded its refusal budget (broker_refusal_flood).
  bool flooding() const;

 private:
  Broker(GrantSet grants, BrokerLimits limits, BrokerHooks hooks);

  // What a request decided and recorded still has to do (HandleRequest): open (or create,
  // or truncate), connect, or call.
  struct Pending {
    const PathResolver* resolver = nullptr;
    PathResolver::PendingOpen open;
    ConnectTarget target;
    std::string function;
    std::string input;
    absl::Duration deadline;
    // CapabilityUse::effect: "create", "truncate", "connect", "call", or "".
    std::string effect;
    // Set by a successful effect that its capability.use could not name in advance, for a
    // capability.result: the address a connect reached, and why a create's directory is not
    // the one checked.
    std::string reached;
    std::string drift;
  };
  // Everything short of the effect: the checks, the resolution, and for a plain open the fd.
  absl::Status PrepareOpen(const cordon::v1::OpenFileRequest& req, CapabilityUse* use,
                           Pending* pending);
  absl::Status PrepareConnect(const cordon::v1::ConnectRequest& req, CapabilityUse* use,
                              Pending* pending);
  absl::Status PrepareHostCall(const cordon::v1::HostCallRequest& req,
                               std::vector<ipc::UniqueFd>* fds, CapabilityUse* use,
                               Pending* pending);
  // The effect, after the record: fills the typed response and its fds.
  absl::Status Perform(cordon::v1::BrokerRequest::RequestCase what, Pending* pending,
                       BrokerReply* reply);
  absl::StatusOr<std::string> CallHost(const Pending& pending);
  // Records how a recorded request's effect ended (capability.result): how it failed, or what a
  // successful one reached (`pending`'s reached/drift). A failed write is added to a failed
  // *status, and turns a success into UNAVAILABLE (the caller then closes the fd unsent).
  void RecordResult(const CapabilityUse& use, const Pending& pending, absl::Time start,
                    absl::Status* status);
  // Takes a request token and a concurrency slot; QuotaHit + ResourceExhausted otherwise.
  // The log path shared by LogMessage envelopes and LogRequests; the status is the answer.
  // plugin_output: the line came from the plugin's stdout/stderr (HandleOutput), which only
  // changes what a denial says.
  absl::Status Log(uint64_t request_id, int level, const std::string& message,
                   const google::protobuf::Map<std::string, std::string>* fields,
                   bool plugin_output = false);
  absl::Status Admit();
  absl::Status ReserveFd();
  void SettleFd(const ipc::UniqueFd* fd);
  // Counts one refusal of `hit.quota` (against the refusal budget when `budgeted`) and reports
  // what is due: the hit folded with earlier ones, or the broker_refusal_flood kill.
  void ReportQuota(QuotaHit hit, bool budgeted);
  absl::Time Now() const { return hooks_.clock ? hooks_.clock() : absl::Now(); }

  // Refusals of one quota since its last record.
  struct QuotaFold {
    absl::Time last_record = absl::InfinitePast();
    uint64_t pending = 0;
    absl::Time first_pending;
    QuotaHit last;  // the latest folded hit, reported with the count
  };
  // Takes the fold's pending refusals as one hit; requires fold->pending > 0.
  static QuotaHit TakePending(QuotaFold* fold);

  GrantSet grants_;
  BrokerLimits limits_;
  BrokerHooks hooks_;
  std::vector<PathResolver> resolvers_;  // parallel to grants_.fs()
  EndpointMatcher matcher_;

  mutable std::mutex mu_;
  TokenBucket requests_;
  TokenBucket logs_;
  FdCensus census_;
  uint32_t in_flight_ = 0;
  uint64_t logs_dropped_ = 0;
  uint64_t output_discarded_ = 0;  // lines of output without the log grant
  TokenBucket refusals_;
  uint64_t refusals_total_ = 0;
  // Written under mu_; read without it on every request.
  std::atomic<bool> flooding_ = false;
  std::map<std::string, QuotaFold> folds_;
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_BROKER_H_
