#!/usr/bin/env bash
# The README's second command (and .ci/run): installs dependencies, builds, and runs every test.
#
#   1. build + ctest: unit, integration, adversarial and example tests (build/)
#   2. sanitizers: the unit and integration suites under ASan + UBSan (build-asan/)
#   3. fuzzing: every libFuzzer target for a short run (build-fuzz/)
#   4. packages: .deb and .rpm built, linted, installed, run, removed (scripts/package-test.sh)
#   (the Go client, cordon serve and the Rust crate run as ctests in stage 1)
#
# CORDON_SKIP="sanitize fuzz package" skips stages (a developer shortcut; CI runs all).
# Exits non-zero when any stage fails; the last line counts stages passed and failed.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
skip=" ${CORDON_SKIP:-} "
passed=0
failed=0
failures=()

stage() {
  local name=$1
  shift
  if [[ "$skip" == *" $name "* ]]; then
    echo "== stage $name: skipped (CORDON_SKIP)"
    return
  fi
  echo "== stage $name: $*"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "== stage $name: passed in $((SECONDS - start)) s"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "== stage $name: FAILED after $((SECONDS - start)) s"
  fi
}

./scripts/install-deps.sh || exit 1

run_ctest() {
  ./scripts/build.sh && (cd build && ctest --output-on-failure -j"$(nproc)" --timeout 600)
}
stage ctest run_ctest
# No existence checks: a missing or non-executable stage script fails its stage, never skips it.
stage sanitize ./scripts/sanitize.sh
stage fuzz ./scripts/fuzz.sh -t "${CORDON_FUZZ_SECONDS:-10}"
stage package env CLEAN_ROOT="${CLEAN_ROOT:-0}" ./scripts/package-test.sh

echo
if [ "$failed" -gt 0 ]; then
  echo "failed stages: ${failures[*]}"
fi
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
