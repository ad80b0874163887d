#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in their own build directory and runs each
# for a while over its seed corpus from the tree.
#
#   scripts/fuzz.sh                 every target, 20 s each
#   scripts/fuzz.sh -t 3600 audit_reader     one target for an hour
#
# Options: -t SECONDS per target (default 20), -j JOBS parallel fuzzing jobs per target
# (default 1), -b BUILD_DIR (default build-fuzz). New interesting inputs go to
# BUILD_DIR/tests/fuzz/<target>_work (never into the tree); crashes, leaks and timeouts are
# written as BUILD_DIR/fuzz-artifacts/<target>/crash-* etc. and make the script fail.
# To keep new inputs, minimise them into the seed corpus:
#   BUILD/tests/fuzz/<t> -merge=1 tests/fuzz/<t>_corpus BUILD/tests/fuzz/<t>_work
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=20
jobs=1
build_dir=$here/build-fuzz
while getopts "t:j:b:h" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    b) build_dir=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # Every target has a seed corpus tests/fuzz/NAME_corpus (profile_parser, manifest_parser,
  # audit_reader, and ipc_envelope from the IPC module).
  for d in "$here"/tests/fuzz/*_corpus; do
    [ -d "$d" ] && targets+=("$(basename "$d" _corpus)")
  done
fi

CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S "$here" -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORDON_FUZZ=ON -DCORDON_SANITIZE=ON >/dev/null
cmake --build "$build_dir" --target "${targets[@]}" -j"${BUILD_JOBS:-2}"

status=0
for t in "${targets[@]}"; do
  bin=$build_dir/tests/fuzz/$t
  work=$build_dir/tests/fuzz/${t}_work
  artifacts=$build_dir/fuzz-artifacts/$t
  mkdir -p "$work" "$artifacts"
  echo "== $t: ${seconds}s, $jobs job(s)"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  if [ "$jobs" -gt 1 ]; then args+=(-jobs="$jobs" -workers="$jobs"); fi
  if ! "$bin" "${args[@]}" "$work" "$here/tests/fuzz/${t}_corpus" >"$artifacts/log.txt" 2>&1; then
    status=1
    echo "!! $t found a problem; see $artifacts/ and the tail of its log:"
    tail -30 "$artifacts/log.txt"
  else
    grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)|^#[0-9]+.*DONE" \
      "$artifacts/log.txt" | tail -4 | sed 's/^/   /'
  fi
done
exit $status
