#ifndef CORDON_LAUNCHER_HOST_PLUGIN_STATE_H_
#define CORDON_LAUNCHER_HOST_PLUGIN_STATE_H_

namespace cordon::host {

// load → spawn → probe → configure → ready → (calls) → draining → stopped, or failed from
// any state. Each transition is a `plugin.<name>` audit record (docs/audit.md) and is reported
// to LoadRequest.on_state_change.
//   load:      the bundle was read; the profile, grants and limits are being resolved
//   spawn:     the sandbox exists, the entry has not started yet
//   probe:     the handshake started: waiting for Hello, negotiating the version
//   configure: the Hello was accepted; Welcome (configuration, grants, limits) sent, waiting
//              for Ready
//   ready:     serving calls
//   draining:  ShutdownRequest sent; answering what it has, then exiting
//   stopped:   exited cleanly after draining
//   failed:    anything else (refused, crashed, killed, hung, violated the protocol)
enum class PluginState {
  kLoading,
  kSpawned,
  kProbing,
  kConfiguring,
  kReady,
  kDraining,
  kStopped,
  kFailed
};

inline const char* PluginStateName(PluginState state) {
  switch (state) {
    case PluginState::kLoading:
      return "load";
    case PluginState::kSpawned:
      return "spawn";
    case PluginState::kProbing:
      return "probe";
    case PluginState::kConfiguring:
      return "configure";
    case PluginState::kReady:
      return "ready";
    case PluginState::kDraining:
      return "draining";
    case PluginState::kStopped:
      return "stopped";
    case PluginState::kFailed:
      return "failed";
  }
  return "unknown";
}

inline bool IsFinal(PluginState state) {
  return state == PluginState::kStopped || state == PluginState::kFailed;
}

// The lifecycle's order: each state follows the one before it (load is entered once, from
// itself), stopped only from draining, failed from anything not final.
inline bool IsLegalTransition(PluginState from, PluginState to) {
  if (IsFinal(from)) return false;
  if (to == PluginState::kFailed) return true;
  if (from == PluginState::kLoading && to == PluginState::kLoading) return true;
  return static_cast<int>(to) == static_cast<int>(from) + 1;
}

}  // namespace cordon::host

#endif  // CORDON_LAUNCHER_HOST_PLUGIN_STATE_H_
