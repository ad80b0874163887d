#!/usr/bin/env bash
# Runs the Go host example (examples/go/plugin_host) with a private cordon serve; extra
# arguments go to the example (-bundle, -method, ...). Run as root.
set -euo pipefail
source "$(dirname "$0")/go-env.sh"
exec go run cordon.dev/examples/go/plugin_host "$@"
