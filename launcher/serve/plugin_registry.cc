#include "launcher/serve/plugin_registry.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cordon::serve {

cordon::v1::ControlPluginInfo PluginEntry::Info() const {
  cordon::v1::ControlPluginInfo info;
  info.set_plugin_id(id);
  if (plugin != nullptr) {
    info.set_name(plugin->info().name);
    info.set_version(plugin->info().version);
    for (const std::string& m : plugin->info().methods) info.add_methods(m);
    info.set_host_pid(plugin->host_pid());
    info.set_direct_channel(plugin->serves_direct_channel());
  }
  if (state != nullptr) {
    std::lock_guard<std::mutex> lock(state->mu);
    info.set_state(state->state);
    info.set_state_reason(state->reason);
  }
  info.set_bundle_dir(bundle_dir);
  info.set_profile(profile);
  info.set_owner_uid(owner_uid);
  info.set_owner_pid(owner_pid);
  info.set_lifetime(lifetime);
  info.set_loaded_at_unix_ns(absl::ToUnixNanos(loaded_at));
  return info;
}

cordon::v1::ControlPluginStats PluginEntry::Stats() const {
  cordon::v1::ControlPluginStats s;
  *s.mutable_plugin() = Info();
  s.set_calls_total(calls_total.load());
  s.set_calls_ok(calls_ok.load());
  s.set_calls_failed(calls_failed.load());
  s.set_calls_timed_out(calls_timed_out.load());
  s.set_calls_in_flight(calls_in_flight.load());
  s.set_bytes_in(bytes_in.load());
  s.set_bytes_out(bytes_out.load());
  s.set_call_time_total_us(call_time_total_us.load());
  s.set_call_time_max_us(call_time_max_us.load());
  s.set_direct_channels_opened(direct_channels_opened.load());
  return s;
}

void PluginEntry::RecordCall(absl::Duration took, size_t in, size_t out,
                             const absl::Status& status) {
  const uint64_t us = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Microseconds(took)));
  calls_total.fetch_add(1);
  bytes_in.fetch_add(in);
  bytes_out.fetch_add(out);
  call_time_total_us.fetch_add(us);
  uint64_t prev = call_time_max_us.load();
  while (prev < us && !call_time_max_us.compare_exchange_weak(prev, us)) {
  }
  if (status.ok()) {
    calls_ok.fetch_add(1);
  } else {
    calls_failed.fetch_add(1);
    if (absl::IsDeadlineExceeded(status)) calls_timed_out.fetch_add(1);
  }
}

std::shared_ptr<PluginEntry> PluginRegistry::Add(std::shared_ptr<PluginEntry> entry) {
  std::lock_guard<std::mutex> lock(mu_);
  entry->id = absl::StrCat("p", next_id_++);
  entries_[entry->id] = entry;
  return entry;
}

absl::StatusOr<std::shared_ptr<PluginEntry>> PluginRegistry::Find(const std::string& id,
                                                                  uid_t uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || !VisibleTo(*it->second, uid)) {
    return absl::NotFoundError(
        absl::StrCat("no plugin '", id, "' loaded by this client; list shows the ids you may use"));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<PluginEntry>> PluginRegistry::Take(const std::string& id,
                                                                  uid_t uid) {
  absl::StatusOr<std::shared_ptr<PluginEntry>> found = Find(id, uid);
  if (!found.ok()) return found;
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(id);
  return found;
}

std::vector<std::shared_ptr<PluginEntry>> PluginRegistry::Visible(uid_t uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<PluginEntry>> out;
  for (const auto& [id, entry] : entries_) {
    if (VisibleTo(*entry, uid)) out.push_back(entry);
  }
  return out;
}

std::vector<std::shared_ptr<PluginEntry>> PluginRegistry::TakeOwnedByConnection(
    uint64_t connection) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<PluginEntry>> out;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second->owner_connection == connection &&
        it->second->lifetime == cordon::v1::LIFETIME_CONNECTION) {
      out.push_back(it->second);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<std::shared_ptr<PluginEntry>> PluginRegistry::TakeAll() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<PluginEntry>> out;
  for (auto& [id, entry] : entries_) out.push_back(entry);
  entries_.clear();
  return out;
}

size_t PluginRegistry::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

std::vector<std::shared_ptr<PluginEntry>> PluginRegistry::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<PluginEntry>> out;
  for (const auto& [id, e] : entries_) out.push_back(e);
  return out;
}

}  // namespace cordon::serve
