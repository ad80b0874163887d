// Helpers for the LoadedPlugin tests: bundles of the misbehaving test plugin, a real audit log
// to read back, and process checks.
#ifndef CORDON_LAUNCHER_HOST_TESTING_HOST_TEST_SUPPORT_H_
#define CORDON_LAUNCHER_HOST_TESTING_HOST_TEST_SUPPORT_H_

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "audit/json_value.h"
#include "gtest/gtest.h"
#include "launcher/host/plugin_state.h"
#include "tests/integration/temp_dir.h"

namespace cordon::host::testing_util {

namespace fs = std::filesystem;

inline std::string EchoBundle() { return absl::StrCat(CORDON_EXAMPLES_DIR, "/echo_plugin"); }

inline bool ProcessGone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

// Builds plugin bundles for the misbehaving test plugin, one per behaviour.
class BundleFactory {
 public:
  // `limits`: the body of the manifest's limits { } block.
  std::string Make(const std::string& dir, const std::string& name,
                   const std::vector<std::string>& args, const std::string& extra = "",
                   const std::string& limits = "call_timeout_ms: 2000 handshake_timeout_ms: 1500",
                   const std::string& protocol = "min: 1 max: 1") {
    fs::path bundle = fs::path(tree_.path()) / dir;
    fs::create_directories(bundle);
    fs::copy_file(MISBEHAVING_PLUGIN_PATH, bundle / "plugin", fs::copy_options::overwrite_existing);
    std::ofstream manifest(bundle / "manifest.textproto");
    manifest << "name: \"" << name << "\"\nversion: \"0.1.0\"\nentry: \"plugin\"\n"
             << "protocol { " << protocol << " }\n";
    for (const std::string& arg : args) manifest << "args: \"" << arg << "\"\n";
    manifest << "limits { " << limits << " }\n" << extra;
    return bundle.string();
  }

 private:
  integration::TempDir tree_;
};

// A real audit log in a temp dir, read back record by record.
class AuditTrail {
 public:
  // `tweak` adjusts the options (durability, failure policy, callback, test seams).
  explicit AuditTrail(std::function<void(audit::AuditLogOptions&)> tweak = nullptr) {
    audit::AuditLogOptions options;
    options.path = tree_.File("audit.jsonl");
    if (tweak) tweak(options);
    auto log = audit::AuditLog::Open(options);
    EXPECT_TRUE(log.ok()) << log.status();
    if (log.ok()) log_ = std::move(*log);
  }
  audit::AuditLog* log() { return log_.get(); }

  std::vector<audit::JsonValue> Records() {
    std::vector<audit::JsonValue> out;
    std::ifstream in(tree_.File("audit.jsonl"));
    std::string line;
    while (std::getline(in, line)) {
      auto value = audit::JsonValue::Parse(line);
      EXPECT_TRUE(value.ok()) << value.status() << ": " << line;
      if (value.ok()) out.push_back(std::move(*value));
    }
    return out;
  }
  // The types of every record, in order ("plugin.load", ...), optionally only those starting
  // with `prefix`.
  std::vector<std::string> Types(const std::string& prefix = "") {
    std::vector<std::string> out;
    for (const audit::JsonValue& r : Records()) {
      const audit::JsonValue* type = r.Find("type");
      if (type != nullptr && type->string_value().rfind(prefix, 0) == 0) {
        out.push_back(type->string_value());
      }
    }
    return out;
  }
  // The first record of `type`, as a copy (an empty object when there is none).
  audit::JsonValue First(const std::string& type) {
    for (audit::JsonValue& r : Records()) {
      const audit::JsonValue* t = r.Find("type");
      if (t != nullptr && t->string_value() == type) return r;
    }
    return audit::JsonValue();
  }

 private:
  integration::TempDir tree_;
  std::unique_ptr<audit::AuditLog> log_;
};

// Records what on_state_change reports; Wait blocks until a state shows up.
class StateLog {
 public:
  std::function<void(PluginState, const std::string&)> Observer() {
    return [this](PluginState state, const std::string& reason) {
      std::lock_guard<std::mutex> lock(mu_);
      states_.push_back(PluginStateName(state));
      if (state == PluginState::kFailed) failure_ = reason;
      cv_.notify_all();
    };
  }
  // True once `state` was reported; false after `timeout` (an outer safety net, not a wait).
  bool Wait(PluginState state, absl::Duration timeout = absl::Seconds(20)) {
    std::unique_lock<std::mutex> lock(mu_);
    const std::string name = PluginStateName(state);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] {
      return std::find(states_.begin(), states_.end(), name) != states_.end();
    });
  }
  std::vector<std::string> states() {
    std::lock_guard<std::mutex> lock(mu_);
    return states_;
  }
  std::string failure() {
    std::lock_guard<std::mutex> lock(mu_);
    return failure_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> states_;
  std::string failure_;
};

inline std::string Field(const audit::JsonValue& record, const std::string& key) {
  const audit::JsonValue* v = record.Find(key);
  return v == nullptr ? "" : v->string_value();
}

}  // namespace cordon::host::testing_util

#endif  // CORDON_LAUNCHER_HOST_TESTING_HOST_TEST_SUPPORT_H_
