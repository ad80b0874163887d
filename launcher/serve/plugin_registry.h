#ifndef CORDON_LAUNCHER_SERVE_PLUGIN_REGISTRY_H_
#define CORDON_LAUNCHER_SERVE_PLUGIN_REGISTRY_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cordon/v1/control.pb.h"
#include "launcher/host/loaded_plugin.h"

namespace cordon::serve {

// Last state a plugin reported; written from the plugin's own threads (on_state_change).
struct PluginStateCell {
  std::mutex mu;
  std::string state = "load";
  std::string reason;
};

// One loaded plugin as the daemon tracks it: the plugin, who owns it, and its counters.
// Shared: a call in flight keeps the entry (and so the plugin) alive across an unload.
struct PluginEntry {
  std::string id;
  std::unique_ptr<host::LoadedPlugin> plugin;
  std::shared_ptr<PluginStateCell> state;
  uid_t owner_uid = 0;
  pid_t owner_pid = 0;
  uint64_t owner_connection = 0;
  cordon::v1::ControlLifetime lifetime = cordon::v1::LIFETIME_CONNECTION;
  std::string bundle_dir;
  std::string profile;
  absl::Time loaded_at;

  std::atomic<uint64_t> calls_total{0}, calls_ok{0}, calls_failed{0}, calls_timed_out{0},
      calls_in_flight{0}, bytes_in{0}, bytes_out{0}, call_time_total_us{0}, call_time_max_us{0},
      direct_channels_opened{0};

  // Connection holding the plugin's direct channel (0: none) and its grant's channel id
  // (LoadedPlugin::GrantDirectChannel). At most one at a time.
  std::mutex direct_mu;
  uint64_t direct_holder = 0;
  uint64_t direct_grant = 0;

  cordon::v1::ControlPluginInfo Info() const;
  cordon::v1::ControlPluginStats Stats() const;
  // Accounts one completed call.
  void RecordCall(absl::Duration took, size_t in, size_t out, const absl::Status& status);
};

// The daemon's table of plugins. Visibility: a client sees the plugins its uid loaded, or
// every plugin when the daemon shares them. Thread-safe.
class PluginRegistry {
 public:
  explicit PluginRegistry(bool share_between_clients) : share_(share_between_clients) {}

  // Assigns the id ("p<N>") and stores the entry.
  std::shared_ptr<PluginEntry> Add(std::shared_ptr<PluginEntry> entry);
  // The entry if it exists and uid may see it; NotFound otherwise (the same answer in both
  // cases, so a client cannot probe for other users' plugin ids).
  absl::StatusOr<std::shared_ptr<PluginEntry>> Find(const std::string& id, uid_t uid) const;
  // As Find, and removes it from the table.
  absl::StatusOr<std::shared_ptr<PluginEntry>> Take(const std::string& id, uid_t uid);
  std::vector<std::shared_ptr<PluginEntry>> Visible(uid_t uid) const;
  // Removes and returns the connection-lifetime plugins loaded over that connection.
  std::vector<std::shared_ptr<PluginEntry>> TakeOwnedByConnection(uint64_t connection);
  std::vector<std::shared_ptr<PluginEntry>> TakeAll();
  // Every entry, whoever may see it (for the daemon's own bookkeeping).
  std::vector<std::shared_ptr<PluginEntry>> All() const;
  size_t size() const;

 private:
  bool VisibleTo(const PluginEntry& entry, uid_t uid) const {
    return share_ || entry.owner_uid == uid;
  }

  const bool share_;
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::map<std::string, std::shared_ptr<PluginEntry>> entries_;
};

}  // namespace cordon::serve

#endif  // CORDON_LAUNCHER_SERVE_PLUGIN_REGISTRY_H_
