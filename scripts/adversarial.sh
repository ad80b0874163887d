#!/usr/bin/env bash
# Runs cordon's adversarial suite (issue 7): every attack in tests/adversarial/attacks under
# `cordon run`, the hostile-IPC-peer scenarios, and the broker and in-sandbox IPC attacks of a
# hostile plugin run through `cordon call`, and prints the table
#   attack | verdict | evidence | audit record
# Exits 1 if any attack ESCAPED (host effect) or was ALLOWED (a forbidden operation worked),
# 2 if any is UNAUDITED, UNEXPECTED or ERROR, 0 when everything is BLOCKED.
#
#   scripts/adversarial.sh                         build if needed, run, print the table
#   scripts/adversarial.sh --only tty_inject       one attack (repeatable)
#   scripts/adversarial.sh --only broker_rename_race   one broker row
#   scripts/adversarial.sh --runner bwrap          the same attacks under bubblewrap
#   scripts/adversarial.sh --compare out.md        cordon and bwrap side by side (markdown)
#   scripts/adversarial.sh --json rows.json --verbose   machine-readable rows with notes
#
# Needs root (cgroup quotas, the setuid probe), python3, and bwrap for --runner/--compare.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$here/build}

if [ ! -f "$build_dir/build.ninja" ] && [ ! -f "$build_dir/Makefile" ]; then
  cmake -S "$here" -B "$build_dir" -G Ninja >/dev/null
fi
if ! cmake --build "$build_dir" --target cordon_adversarial -j"${JOBS:-2}" >/dev/null; then
  echo "adversarial.sh: build failed (cmake --build $build_dir --target cordon_adversarial);" \
       "is add_subdirectory(adversarial) in tests/CMakeLists.txt?" >&2
  exit 125
fi

exec python3 "$here/tests/adversarial/run_suite.py" \
  --cordon "$build_dir/launcher/cli/cordon" \
  --attacks "$build_dir/tests/adversarial/attacks" \
  --ipc-peer "$build_dir/tests/adversarial/cordon_ipc_hostile_peer" \
  --broker-plugin "$build_dir/tests/adversarial/broker_attacker/broker_attacker" \
  --width "${COLUMNS:-200}" "$@"
