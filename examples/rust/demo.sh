#!/usr/bin/env bash
# Shows the Rust example plugin (wordcount) under cordon: a normal call, then each kind of
# misbehaviour (denied broker request, panic, crash, hang) and the audit records they leave.
#
#   examples/rust/demo.sh [BUILD_DIR]     after examples/rust/build-bundle.sh BUILD_DIR
#
# The manifest asks for fs.read on /data and log, so the profile must bound them: the demo uses
# the default profile plus a grant of a temporary directory as /data. examples/go/plugin_host
# shows the same cases from a Go service through `cordon serve`.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build}"
cordon="$build/launcher/cli/cordon"
bundle="$build/examples/rust/wordcount"
if [ ! -x "$cordon" ] || [ ! -x "$bundle/wordcount" ]; then
  echo "demo: build first: cmake --build $build --target cordon && examples/rust/build-bundle.sh $build" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
audit="$work/audit.jsonl"
printf 'the quick brown fox\njumps over the lazy dog\n' >"$work/text"
printf '/data/notes.txt' >"$work/path"
printf '/etc/shadow' >"$work/outside"
mkdir "$work/data"
printf 'one two three\nfour\n' >"$work/data/notes.txt"
chmod -R a+rX "$work"
profile="$work/wordcount.textproto"
{
  cat "$root/sandbox-profiles/profiles/default.textproto"
  printf 'capabilities {\n  fs { plugin_path: "/data" host_path: "%s" read: true }\n  log: true\n}\n' \
    "$work/data"
} >"$profile"

step() {
  echo
  echo "\$ cordon call $1 ($2)"
  "$cordon" call --profile "$profile" --audit-log "$audit" --input "$3" "$bundle" "$1"
  echo "[exit $?]"
}
step count "a transformer call" "$work/text"
step top "ten most frequent words" "$work/text"
step count_file "a granted file, opened by the broker" "$work/path"
step count_file "a file outside the grant: the broker denies it" "$work/outside"
step panic "a panicking handler fails only its call" "$work/text"
step crash "SIGSEGV: the host sees the channel close" "$work/text"
step hang "killed at the manifest's 2 s call deadline" "$work/text"

echo
echo "\$ cordon audit query --type capability.use / plugin.failed / 'quota.*' / 'seccomp.*'"
for t in capability.use plugin.failed 'quota.*' 'seccomp.*'; do
  "$cordon" audit query --type "$t" "$audit"
done
echo
echo "\$ cordon audit verify"
"$cordon" audit verify "$audit"
