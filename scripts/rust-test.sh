#!/usr/bin/env bash
# Builds and tests the Rust plugin crate (sdk/rust) and the Rust example plugin
# (examples/rust/wordcount) with Debian's cargo/rustc, offline against /usr/share/cargo/registry,
# runs the example under cordon end to end, and then the Go host example
# (examples/go/plugin_host) against it through `cordon serve`.
#
#   scripts/rust-test.sh [BUILD_DIR]      BUILD_DIR: the CMake build tree (default: build)
#
# Needs: scripts/install-deps.sh (cargo, rustc, librust-prost-dev, golang-go, ...); for the
# end-to-end parts BUILD_DIR/launcher/cli/cordon (cmake --build BUILD_DIR --target cordon). Cargo
# output goes to BUILD_DIR/rust; the bundle is assembled in BUILD_DIR/examples/rust/wordcount
# (examples/rust/build-bundle.sh).
# Without Debian's cargo it exits 77 (ctest: skipped), or fails when CI=true: CI installs it.
# Environment: CARGO / RUSTC / RUSTDOC override the Debian toolchain (default /usr/bin/...; given
# explicitly so a rustup toolchain earlier in PATH does not shadow it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
case "$build" in -*) echo "$(basename "$0"): usage: $(basename "$0") [BUILD_DIR] (got option '$build')" >&2; exit 2 ;; esac
case "$build" in /*) ;; *) build="$root/$build" ;; esac

source "$root/scripts/rust-env.sh"
# missing WHAT: the toolchain is not installed. Locally that skips the test (exit 77, which
# ctest reports as skipped); in CI (CI=true) it is an error, since CI installs everything.
missing() {
  if [ "${CI:-}" = true ]; then
    echo "rust-test: FAIL: $1 is missing in CI; scripts/install-deps.sh must install it" >&2
    exit 1
  fi
  echo "rust-test: SKIPPED: $1 is missing; run scripts/install-deps.sh" >&2
  exit 77
}
for tool in "$CARGO" "$RUSTC"; do
  [ -x "$tool" ] || missing "$tool (Debian's cargo and rustc)"
done
[ -d /usr/share/cargo/registry ] || missing "/usr/share/cargo/registry (librust-prost-dev ...)"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
start=$(date +%s)

echo "rust-test: $("$RUSTC" --version), $("$CARGO" --version), target dir $CARGO_TARGET_DIR"

# Each crate is built from its own directory so its .cargo/config.toml (the Debian source
# replacement) applies.
run_cargo() {
  local dir="$1"
  shift
  (cd "$root/$dir" && "$CARGO" "$@")
}

if run_cargo sdk/rust test --offline; then pass "cargo test sdk/rust"; else fail "cargo test sdk/rust"; fi
if run_cargo examples/rust/wordcount test --offline; then
  pass "cargo test examples/rust/wordcount"
else
  fail "cargo test examples/rust/wordcount"
fi
if ! "$root/examples/rust/build-bundle.sh" "$build"; then
  fail "cargo build --release examples/rust/wordcount"
  echo "$passed passed, $failed failed"
  exit 1
fi
pass "cargo build --release examples/rust/wordcount"
bundle="$build/examples/rust/wordcount"

cordon="$build/launcher/cli/cordon"
if [ ! -x "$cordon" ]; then
  if [ "${CI:-}" = true ]; then
    fail "$cordon not built in CI (scripts/build.sh builds it before ctest)"
  else
    echo "rust-test: $cordon not built; skipping the end-to-end calls (cmake --build $build --target cordon)"
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
audit="$work/audit.jsonl"
printf 'the quick brown fox\njumps over the lazy dog\nthe end\n' >"$work/input.txt"
printf '/data/notes.txt\n' >"$work/path.txt"
# The manifest asks for fs.read on /data and log; the profile must bound them, or the load is
# refused. A copy of the default profile that grants a host directory as /data:
mkdir -p "$work/data"
printf 'one two three\nfour\n' >"$work/data/notes.txt"
chmod -R a+rX "$work"
profile="$work/wordcount.textproto"
{
  cat "$root/sandbox-profiles/profiles/default.textproto"
  printf 'capabilities {\n  fs { plugin_path: "/data" host_path: "%s" read: true }\n  log: true\n}\n' \
    "$work/data"
} >"$profile"

# call METHOD INPUT: sets out, err, rc.
call() {
  rc=0
  out="$("$cordon" call --profile "$profile" --audit-log "$audit" --input "$2" "$bundle" "$1" \
    2>"$work/stderr")" || rc=$?
  err="$(cat "$work/stderr")"
}

expect_ok() {  # NAME METHOD INPUT EXPECTED_STDOUT
  call "$2" "$3"
  if [ "$rc" -eq 0 ] && [ "$out" = "$4" ]; then
    pass "$1"
  else
    fail "$1: exit $rc, stdout '$out', stderr '$err', expected '$4'"
  fi
}

expect_error() {  # NAME METHOD INPUT STDERR_SUBSTRING
  call "$2" "$3"
  if [ "$rc" -eq 1 ] && [[ "$err" == *"$4"* ]]; then
    pass "$1"
  else
    fail "$1: exit $rc, stderr '$err', expected exit 1 and '$4'"
  fi
}

expect_ok "e2e count" count "$work/input.txt" '{"lines":3,"words":11,"bytes":52}'
expect_ok "e2e top" top "$work/input.txt" \
  '[{"word":"the","count":3},{"word":"brown","count":1},{"word":"dog","count":1},{"word":"end","count":1},{"word":"fox","count":1},{"word":"jumps","count":1},{"word":"lazy","count":1},{"word":"over","count":1},{"word":"quick","count":1}]'
expect_ok "e2e empty input" count /dev/null '{"lines":0,"words":0,"bytes":0}'
# 100 KiB: above the 16 KiB inline threshold, so the input travels as a sealed memfd.
head -c 102400 /dev/zero | tr '\0' 'a' >"$work/big.txt"
expect_ok "e2e memfd input" count "$work/big.txt" '{"lines":1,"words":1,"bytes":102400}'
# ... and the 100 KiB result comes back as a sealed memfd the host validates.
expect_ok "e2e memfd result" upper "$work/big.txt" "$(tr a A <"$work/big.txt")"
expect_ok "e2e upper" upper "$work/input.txt" "$(tr a-z A-Z <"$work/input.txt")"
expect_error "e2e unknown method" nosuch "$work/input.txt" "has no method 'nosuch'"
expect_error "e2e panic fails only the call" panic "$work/input.txt" "handler panicked: wordcount: panicking on purpose"
expect_error "e2e crash" crash "$work/input.txt" "closed its channel"
expect_error "e2e hang is killed at the call deadline" hang "$work/input.txt" "considered hung"
# count_file goes through the broker: the plugin opens /data/notes.txt as a std::fs::File from
# the granted host directory, and the launcher records one capability.use for it.
call count_file "$work/path.txt"
if [ "$rc" -eq 0 ] && [[ "$out" == '{"path":"/data/notes.txt",'* ]] &&
   grep -q '"type":"capability.use".*"decision":"allow"' "$audit"; then
  pass "e2e count_file through the broker ($out)"
else
  fail "e2e count_file: exit $rc, stdout '$out', stderr '$err'"
fi

# The Rust runtime must live inside the default profile: no seccomp violation in any run.
if grep -q '"type":"seccomp.violation"' "$audit"; then
  fail "seccomp violations under the default profile: $(grep '"type":"seccomp.violation"' "$audit" | head -5)"
else
  pass "no seccomp.violation records ($(wc -l <"$audit") audit records)"
fi

# The Go host example (examples/go/plugin_host) loads this bundle through `cordon serve`, reads a
# granted file, and checks the denied access, panic, crash and timeout cases with their audit
# records. It runs here rather than in cordon_go_sdk_test because it needs the bundle just built.
if ! command -v go >/dev/null; then
  if [ "${CI:-}" = true ]; then
    fail "Go host example: go is missing in CI (scripts/install-deps.sh installs golang-go)"
  else
    echo "rust-test: SKIPPED the Go host example: go not found (scripts/install-deps.sh)"
  fi
elif CORDON_BUILD_DIR="$build" CORDON_WORDCOUNT_BUNDLE="$bundle" bash -c '
    source "$1/scripts/go-env.sh" && cd "$gopath/src/cordon.dev" &&
    go test -count=1 -v -run "^TestWalkThroughRustPlugin\$" cordon.dev/examples/go/plugin_host' \
    _ "$root" >"$work/go-example.log" 2>&1 &&
    grep -q -- '--- PASS: TestWalkThroughRustPlugin' "$work/go-example.log"; then
  sed 's/^/  /' "$work/go-example.log"
  pass "Go host example against the Rust plugin through cordon serve"
else
  sed 's/^/  /' "$work/go-example.log"
  fail "Go host example against the Rust plugin (output above)"
fi

echo "rust-test: $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
