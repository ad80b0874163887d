#!/usr/bin/env bash
# Go host call round trip: cordon serve (control socket, data-plane channel) vs hashicorp
# go-plugin over gRPC, same run. Build the C++ side first:
#   cmake --build build --target cordon serve_demo_plugin
# Usage: bench/go/run.sh [-n CALLS] [-warmup CALLS]   (run as root: cordon sandboxes plugins)
set -euo pipefail
source "$(dirname "$0")/../../scripts/go-env.sh"
go build -o "$CORDON_BUILD_DIR/go/goplugin_upper" cordon.dev/bench/go/goplugin_upper
go build -o "$CORDON_BUILD_DIR/go/callbench" cordon.dev/bench/go/callbench
"$CORDON_BUILD_DIR/go/callbench" -goplugin "$CORDON_BUILD_DIR/go/goplugin_upper" "$@"
