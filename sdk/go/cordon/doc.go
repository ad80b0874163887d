// Package cordon is the Go host client for the cordon serve daemon: it loads sandboxed
// plugins, calls them with context deadlines and cancellation, and unloads them over the
// daemon's unix control socket (cordon.v1 control API, ipc/proto/cordon/v1/control.proto).
package cordon
