#ifndef CORDON_LAUNCHER_HOST_PLUGIN_STATE_H_
#define CORDON_LAUNCHER_HOST_PLUGIN_STATE_H_

namespace cordon::host {

// load → spawn → probe → configure → ready → (calls) → draining → stopped, or failed from
// any state. Each transition is a `plugin.<state>` audit record.
enum class PluginState { kLoading, kSpawned, kProbing, kReady, kDraining, kStopped, kFailed };

inline const char* PluginStateName(PluginState state) {
  switch (state) {
    case PluginState::kLoading: return "load";
    case PluginState::kSpawned: return "spawn";
    case PluginState::kProbing: return "probe";
    case PluginState::kReady: return "ready";
    case PluginState::kDraining: return "draining";
    case PluginState::kStopped: return "stopped";
    case PluginState::kFailed: return "failed";
  }
  return "unknown";
}

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_PLUGIN_STATE_H_
