#!/usr/bin/env bash
# Go host call round trip: cordon serve (control socket, relayed data-plane channel, direct
# channel) vs hashicorp go-plugin over gRPC, same run; with the C++ demo plugin and, when cargo
# is installed, the Rust plugin bench/go/rust_upper. Build the C++ side first:
#   cmake --build build --target cordon serve_demo_plugin
# Usage: bench/go/run.sh [-n CALLS] [-warmup CALLS]   (run as root: cordon sandboxes plugins)
set -euo pipefail
source "$(dirname "$0")/../../scripts/go-env.sh"
go build -o "$CORDON_BUILD_DIR/go/goplugin_upper" cordon.dev/bench/go/goplugin_upper
go build -o "$CORDON_BUILD_DIR/go/callbench" cordon.dev/bench/go/callbench
rust=()
cargo="${CARGO:-/usr/bin/cargo}"
if [ -x "$cargo" ]; then
  # Offline over Debian's crates (bench/go/rust_upper/.cargo/config.toml), as scripts/rust-test.sh.
  (cd "$root/bench/go/rust_upper" &&
    CARGO_TARGET_DIR="$CORDON_BUILD_DIR/rust" "$cargo" build --offline --release --quiet)
  bundle="$CORDON_BUILD_DIR/bench/rust_upper"
  mkdir -p "$bundle"
  cp "$root/bench/go/rust_upper/manifest.textproto" "$bundle/manifest.textproto"
  cp "$CORDON_BUILD_DIR/rust/release/rust_upper" "$bundle/rust_upper"
  rust=(-rust-bundle "$bundle")
else
  echo "run.sh: $cargo not found; no Rust plugin rows (scripts/install-deps.sh installs cargo)" >&2
fi
"$CORDON_BUILD_DIR/go/callbench" -goplugin "$CORDON_BUILD_DIR/go/goplugin_upper" "${rust[@]}" "$@"
