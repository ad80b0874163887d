#include "launcher/host/plugin_slot.h"

#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "audit/audit_record.h"
#include "ipc/envelope_codec.h"
#include "ipc/manifest_loader.h"

namespace cordon::host {
namespace {

bool AllDigits(absl::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

// Numbers of any length (a version may carry more digits than fit a uint64): without leading
// zeros the longer one is larger, equal lengths compare as text.
int CompareNumbers(absl::string_view a, absl::string_view b) {
  while (a.size() > 1 && a.front() == '0') a.remove_prefix(1);
  while (b.size() > 1 && b.front() == '0') b.remove_prefix(1);
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
}

// semver.org §11.4: numeric identifiers compare as numbers and sort before alphanumeric
// ones, which compare in ASCII order; a longer list wins when all before are equal.
int ComparePreRelease(absl::string_view a, absl::string_view b) {
  std::vector<absl::string_view> x = absl::StrSplit(a, '.');
  std::vector<absl::string_view> y = absl::StrSplit(b, '.');
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    bool x_num = AllDigits(x[i]);
    bool y_num = AllDigits(y[i]);
    int c;
    if (x_num && y_num) {
      c = CompareNumbers(x[i], y[i]);
    } else if (x_num != y_num) {
      c = x_num ? -1 : 1;
    } else {
      c = x[i].compare(y[i]) < 0 ? -1 : (x[i] == y[i] ? 0 : 1);
    }
    if (c != 0) return c;
  }
  if (x.size() == y.size()) return 0;
  return x.size() < y.size() ? -1 : 1;
}

struct SplitVersion {
  std::vector<absl::string_view> core;  // MAJOR, MINOR, PATCH
  absl::string_view pre;                // empty: a release
};

SplitVersion Split(absl::string_view v) {
  v = v.substr(0, v.find('+'));  // build metadata does not take part in precedence
  SplitVersion out;
  size_t dash = v.find('-');
  if (dash != absl::string_view::npos) {
    out.pre = v.substr(dash + 1);
    v = v.substr(0, dash);
  }
  out.core = absl::StrSplit(v, '.');
  return out;
}

absl::Status Checked(const std::string& what, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

std::string Ms(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d), " ms"); }

// Waits on `cv` until `done` or `deadline`; an infinite deadline waits for `done` alone.
template <typename Pred>
void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, absl::Time deadline,
               Pred done) {
  if (deadline == absl::InfiniteFuture()) {
    cv.wait(lock, done);
  } else {
    cv.wait_until(lock, absl::ToChronoTime(deadline), done);
  }
}

}  // namespace

absl::StatusOr<int> CompareSemanticVersions(absl::string_view a, absl::string_view b) {
  for (absl::string_view v : {a, b}) {
    if (!ipc::IsValidSemver(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", v, "' is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])"));
    }
  }
  SplitVersion x = Split(a);
  SplitVersion y = Split(b);
  for (size_t i = 0; i < 3; ++i) {
    if (int c = CompareNumbers(x.core[i], y.core[i]); c != 0) return c;
  }
  // A pre-release sorts before the release it leads to (1.0.0-rc.1 < 1.0.0).
  if (x.pre.empty() || y.pre.empty()) {
    if (x.pre.empty() == y.pre.empty()) return 0;
    return x.pre.empty() ? 1 : -1;
  }
  return ComparePreRelease(x.pre, y.pre);
}

absl::StatusOr<std::unique_ptr<PluginSlot>> PluginSlot::Create(LoadRequest request) {
  std::unique_ptr<PluginSlot> slot(new PluginSlot());
  // Generation 0 is never baking: the first version has nothing to roll back to.
  absl::StatusOr<std::shared_ptr<Instance>> first = slot->LoadInstance(request, 0);
  if (!first.ok()) return first.status();
  slot->name_ = (*first)->plugin->manifest().name();
  slot->slot_id_ =
      absl::StrCat(slot->name_, "-slot-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  std::lock_guard<std::mutex> lock(slot->mu_);
  slot->current_ = std::move(*first);
  return slot;
}

PluginSlot::~PluginSlot() {
  std::shared_ptr<Instance> current;
  std::shared_ptr<Instance> baking;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    stop_bake_ = true;
  }
  cv_.notify_all();
  if (bake_thread_.joinable()) bake_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    current = std::move(current_);
    baking = std::move(baking_);
  }
  // Destroyed here, outside mu_: ~LoadedPlugin kills and reaps, and its state callbacks take
  // mu_ (they see closing_ and do nothing).
  current.reset();
  baking.reset();
}

absl::StatusOr<std::shared_ptr<PluginSlot::Instance>> PluginSlot::LoadInstance(
    const LoadRequest& request, uint64_t generation) {
  LoadRequest watched = request;
  watched.on_state_change = [this, generation, user = request.on_state_change](
                                PluginState state, const std::string& reason) {
    if (user) user(state, reason);
    OnStateChange(generation, state, reason);
  };
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadedPlugin::Load(watched);
  if (!plugin.ok()) return plugin.status();
  auto instance = std::make_shared<Instance>();
  instance->generation = generation;
  instance->plugin = std::move(*plugin);
  instance->request = request;
  return instance;
}

void PluginSlot::OnStateChange(uint64_t generation, PluginState state, const std::string& reason) {
  if (state != PluginState::kFailed) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;
    for (const std::shared_ptr<Instance>& instance : {current_, baking_}) {
      if (instance != nullptr && instance->generation == generation && !instance->failed) {
        instance->failed = true;
        instance->failure_reason = reason;
      }
    }
  }
  cv_.notify_all();
}

std::shared_ptr<PluginSlot::Instance> PluginSlot::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

absl::StatusOr<std::string> PluginSlot::Call(const std::string& method, const std::string& input,
                                             absl::Duration timeout) {
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) {
      return absl::FailedPreconditionError(
          absl::StrCat("plugin ", name_, " was shut down; cannot call ", method));
    }
    // Counted under the same lock that switches versions, so an upgrade's drain sees every
    // call that picked the old version.
    instance = current_;
    ++instance->in_flight;
  }
  absl::StatusOr<std::string> result = instance->plugin->Call(method, input, timeout);
  {
    std::lock_guard<std::mutex> lock(mu_);
    --instance->in_flight;
  }
  cv_.notify_all();
  return result;
}

void PluginSlot::Drain(const std::shared_ptr<Instance>& instance, absl::Time deadline) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    WaitUntil(cv_, lock, deadline, [&] { return instance->in_flight == 0; });
  }
  // Calls still running past the deadline end with the plugin (Shutdown kills it at once).
  (void)instance->plugin->Shutdown(std::max(deadline - absl::Now(), absl::ZeroDuration()));
}

void PluginSlot::StopBake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_bake_ = true;
  }
  cv_.notify_all();
  if (bake_thread_.joinable()) bake_thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  stop_bake_ = false;
}

absl::Status PluginSlot::Record(const LoadRequest& request, const UpgradeRecord& upgrade) {
  if (request.audit_log == nullptr) return absl::OkStatus();
  audit::AuditRecord record("plugin.upgrade");
  // The version that serves once the recorded outcome has taken effect.
  record.SetPlugin(slot_id_, name_,
                   upgrade.outcome == "switched" ? upgrade.to_version : upgrade.from_version);
  record.SetDecision(upgrade.outcome == "switched" ? "allow" : "deny");
  record.Set("from_version", upgrade.from_version);
  if (!upgrade.to_version.empty()) record.Set("to_version", upgrade.to_version);
  record.Set("outcome", upgrade.outcome);
  record.Set("stage", upgrade.stage);
  if (!upgrade.reason.empty()) record.Set("reason", upgrade.reason);
  if (upgrade.from_host_pid > 0) {
    record.Set("from_host_pid", static_cast<int64_t>(upgrade.from_host_pid));
  }
  if (upgrade.to_host_pid > 0) {
    record.Set("to_host_pid", static_cast<int64_t>(upgrade.to_host_pid));
  }
  if (!upgrade.health_method.empty()) record.Set("health_method", upgrade.health_method);
  return request.audit_log->Append(record);
}

absl::Status PluginSlot::Upgrade(LoadRequest new_request, const UpgradeOptions& options) {
  std::lock_guard<std::mutex> serial(upgrade_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) {
      return absl::FailedPreconditionError(
          absl::StrCat("plugin ", name_, " was shut down; cannot upgrade it"));
    }
  }
  // A new upgrade ends the previous one's bake period: the version serving now is the base.
  StopBake();
  std::shared_ptr<Instance> old = Current();
  // Records go to the new request's log; a host that gave none keeps using the old one's.
  LoadRequest log_owner = new_request;
  if (log_owner.audit_log == nullptr) log_owner.audit_log = old->request.audit_log;
  UpgradeRecord upgrade;
  upgrade.from_version = old->plugin->manifest().version();
  upgrade.from_host_pid = old->plugin->host_pid();
  upgrade.health_method = options.health_method;
  std::shared_ptr<Instance> fresh;

  auto roll_back = [&](const std::string& stage, absl::StatusCode code,
                       const std::string& reason) -> absl::Status {
    if (fresh != nullptr) {
      fresh->plugin->Kill(absl::StrCat("upgrade rolled back (", stage, "): ", reason));
      fresh.reset();  // ~LoadedPlugin reaps the sandbox: nothing of it is left on return
    }
    upgrade.outcome = "rolled_back";
    upgrade.stage = stage;
    upgrade.reason = reason;
    absl::Status recorded = Record(log_owner, upgrade);
    return absl::Status(
        code,
        absl::StrCat(
            "upgrade of plugin ", name_, " from ", upgrade.from_version, " to ",
            upgrade.to_version.empty() ? "(unknown version)" : upgrade.to_version,
            " rolled back at ", stage, ": ", reason, "; ", upgrade.from_version, " keeps serving",
            recorded.ok() ? "" : absl::StrCat(" (audit record failed: ", recorded.message(), ")")));
  };
  auto check = [&](const cordon::v1::Manifest& manifest) -> absl::Status {
    if (manifest.name() != name_) {
      return absl::FailedPreconditionError(
          absl::StrCat("the new bundle is plugin '", manifest.name(), "', not '", name_,
                       "'; load a different plugin in a slot of its own"));
    }
    absl::StatusOr<int> order = CompareSemanticVersions(manifest.version(), upgrade.from_version);
    if (!order.ok()) return order.status();
    if (*order <= 0 && !options.allow_downgrade) {
      return absl::FailedPreconditionError(
          absl::StrCat(manifest.version(), " is not higher than the serving ", upgrade.from_version,
                       "; set UpgradeOptions.allow_downgrade to replace it anyway"));
    }
    return absl::OkStatus();
  };

  // Checked before anything is spawned, so a wrong bundle costs no sandbox.
  absl::StatusOr<ipc::PluginBundle> bundle =
      ipc::ManifestLoader::LoadBundle(new_request.bundle_dir);
  if (!bundle.ok()) {
    return roll_back(
        "load", bundle.status().code(),
        absl::StrCat("bundle ", new_request.bundle_dir, ": ", bundle.status().message()));
  }
  upgrade.to_version = bundle->manifest.version();
  if (absl::Status s = check(bundle->manifest); !s.ok()) {
    return roll_back("check", s.code(), std::string(s.message()));
  }

  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation = next_generation_++;
  }
  absl::StatusOr<std::shared_ptr<Instance>> loaded = LoadInstance(new_request, generation);
  if (!loaded.ok()) {
    return roll_back("start", loaded.status().code(), std::string(loaded.status().message()));
  }
  fresh = std::move(*loaded);
  upgrade.to_host_pid = fresh->plugin->host_pid();
  // Again on the manifest the plugin was really loaded from: the bundle may have changed since.
  upgrade.to_version = fresh->plugin->manifest().version();
  if (absl::Status s = check(fresh->plugin->manifest()); !s.ok()) {
    return roll_back("check", s.code(), std::string(s.message()));
  }

  if (!options.health_method.empty()) {
    absl::StatusOr<std::string> health =
        fresh->plugin->Call(options.health_method, options.health_input, options.health_deadline);
    if (!health.ok()) {
      return roll_back("health", health.status().code(),
                       absl::StrCat("health check ", options.health_method,
                                    " failed: ", health.status().message()));
    }
  }

  // Recorded before it takes effect; a switch the log cannot hold does not happen.
  if (fresh->plugin->state() != PluginState::kReady) {
    return roll_back("switch", absl::StatusCode::kUnavailable,
                     absl::StrCat("the new version is ", PluginStateName(fresh->plugin->state()),
                                  ", not ready"));
  }
  upgrade.outcome = "switched";
  upgrade.stage = "switch";
  if (absl::Status recorded = Record(log_owner, upgrade); !recorded.ok()) {
    fresh->plugin->Kill("upgrade not recorded");
    fresh.reset();
    return Checked(absl::StrCat("upgrade of plugin ", name_, " from ", upgrade.from_version, " to ",
                                upgrade.to_version, " not done (", upgrade.from_version,
                                " keeps serving): the audit log refused the plugin.upgrade record"),
                   recorded);
  }
  bool switched = false;
  std::string not_ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Safe under mu_: state() takes only the plugin's state lock, which LoadedPlugin never
    // holds while calling our callback. A failure after this point finds the instance as
    // current_/baking_ and is seen by the bake.
    PluginState state = fresh->plugin->state();
    if (state == PluginState::kReady) {
      current_ = fresh;
      switched = true;
      if (options.bake_time > absl::ZeroDuration()) {
        baking_ = fresh;
        bake_active_ = true;
        bake_result_ = absl::OkStatus();
      }
    } else {
      not_ready = PluginStateName(state);
    }
  }
  if (!switched) {
    // It failed between the record and the switch: the next record says it was undone.
    return roll_back("switch", absl::StatusCode::kUnavailable,
                     absl::StrCat("the new version is ", not_ready, ", not ready"));
  }
  if (options.on_switch) options.on_switch(upgrade.from_version, upgrade.to_version);
  if (options.bake_time > absl::ZeroDuration()) {
    bake_thread_ = std::thread(&PluginSlot::BakeLoop, this, fresh, old, options.bake_time,
                               options.drain_grace);
  }
  Drain(old, absl::Now() + options.drain_grace);
  return absl::OkStatus();
}

void PluginSlot::BakeLoop(std::shared_ptr<Instance> baking, std::shared_ptr<Instance> previous,
                          absl::Duration bake_time, absl::Duration drain_grace) {
  // Only the request is needed to come back; the old sandbox itself is drained meanwhile.
  LoadRequest previous_request = previous->request;
  UpgradeRecord upgrade;
  upgrade.from_version = previous->plugin->manifest().version();
  upgrade.to_version = baking->plugin->manifest().version();
  upgrade.to_host_pid = baking->plugin->host_pid();
  upgrade.stage = "bake";
  previous.reset();
  LoadRequest log_owner = baking->request;
  if (log_owner.audit_log == nullptr) log_owner.audit_log = previous_request.audit_log;

  const absl::Time start = absl::Now();
  std::unique_lock<std::mutex> lock(mu_);
  auto finish = [&](absl::Status result) {
    bake_result_ = std::move(result);
    bake_active_ = false;
    baking_.reset();
    cv_.notify_all();
  };
  WaitUntil(cv_, lock, start + bake_time, [&] { return baking->failed || stop_bake_ || closing_; });
  if (!baking->failed || stop_bake_ || closing_) {
    finish(absl::OkStatus());
    return;
  }
  const std::string failure = baking->failure_reason;
  const absl::Duration into = absl::Now() - start;
  uint64_t generation = next_generation_++;
  lock.unlock();

  const std::string what = absl::StrCat("plugin ", name_, " ", upgrade.to_version, " failed ",
                                        Ms(into), " into its bake period (", failure, ")");
  upgrade.reason = failure;
  absl::StatusOr<std::shared_ptr<Instance>> reloaded = LoadInstance(previous_request, generation);
  if (reloaded.ok()) {
    upgrade.outcome = "rolled_back";
    upgrade.from_host_pid = (*reloaded)->plugin->host_pid();
    if (absl::Status recorded = Record(log_owner, upgrade); !recorded.ok()) {
      (*reloaded)->plugin->Kill("rollback not recorded");
      reloaded = Checked("the audit log refused the plugin.upgrade record", recorded);
    }
  }
  if (!reloaded.ok()) {
    upgrade.outcome = "rollback_failed";
    upgrade.from_host_pid = -1;
    upgrade.reason = absl::StrCat(failure, "; re-loading ", upgrade.from_version,
                                  " failed: ", reloaded.status().message());
    (void)Record(log_owner, upgrade);
    lock.lock();
    finish(absl::UnavailableError(absl::StrCat(what, "; rolling back to ", upgrade.from_version,
                                               " failed: ", reloaded.status().message())));
    return;
  }
  lock.lock();
  if (closing_) {
    // The slot is going away: the re-loaded version is not needed any more.
    finish(absl::AbortedError(absl::StrCat(what, "; the slot closed during the rollback")));
    lock.unlock();
    reloaded->reset();
    return;
  }
  std::shared_ptr<Instance> failed = std::move(current_);
  current_ = std::move(*reloaded);
  finish(absl::AbortedError(absl::StrCat(what, "; rolled back to ", upgrade.from_version)));
  lock.unlock();
  // Its calls end promptly (the plugin is dead); this reaps it.
  Drain(failed, absl::Now() + drain_grace);
}

absl::Status PluginSlot::WaitForBake() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !bake_active_; });
  return bake_result_;
}

absl::Status PluginSlot::Shutdown(absl::Duration grace) {
  std::lock_guard<std::mutex> serial(upgrade_mu_);
  StopBake();
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
    instance = current_;
  }
  const absl::Time deadline = absl::Now() + grace;
  {
    std::unique_lock<std::mutex> lock(mu_);
    WaitUntil(cv_, lock, deadline, [&] { return instance->in_flight == 0; });
  }
  return instance->plugin->Shutdown(std::max(deadline - absl::Now(), absl::ZeroDuration()));
}

std::string PluginSlot::name() const { return name_; }

std::string PluginSlot::version() const { return Current()->plugin->manifest().version(); }

PluginState PluginSlot::state() const { return Current()->plugin->state(); }

pid_t PluginSlot::host_pid() const { return Current()->plugin->host_pid(); }

}  // namespace cordon::host
