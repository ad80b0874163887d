#!/usr/bin/env bash
# Configures and builds cordon into ${BUILD_DIR:-build}. Extra args go to cmake configure.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$here/build}
cmake -S "$here" -B "$build_dir" -G Ninja "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
