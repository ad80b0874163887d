#!/usr/bin/env bash
# Builds the ipc libFuzzer target with clang and runs it briefly on the seed corpus (the CI
# smoke run). Usage: tests/fuzz/run_ipc_fuzz.sh [seconds, default 30] [build dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
build=${2:-$root/build-fuzz}
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCORDON_FUZZ=ON >/dev/null
cmake --build "$build" --target cordon_ipc_envelope_fuzzer -j"$(nproc)"
work=$(mktemp -d)
cp "$root"/tests/fuzz/ipc_envelope_corpus/* "$work"/
"$build"/ipc/cordon_ipc_envelope_fuzzer -max_total_time="$secs" -max_len=4096 \
  -timeout=20 -rss_limit_mb=2048 "$work"
