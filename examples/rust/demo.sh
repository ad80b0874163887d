#!/usr/bin/env bash
# Shows the Rust example plugin (wordcount) under cordon: a normal call, then each kind of
# misbehaviour (denied broker request, panic, crash, hang) and the audit records they leave.
#
#   examples/rust/demo.sh [BUILD_DIR]     after scripts/rust-test.sh BUILD_DIR (builds the bundle)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build}"
cordon="$build/launcher/cli/cordon"
bundle="$build/examples/rust/wordcount"
if [ ! -x "$cordon" ] || [ ! -x "$bundle/wordcount" ]; then
  echo "demo: build first: cmake --build $build --target cordon && scripts/rust-test.sh $build" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
audit="$work/audit.jsonl"
printf 'the quick brown fox\njumps over the lazy dog\n' >"$work/text"
printf '/data/notes.txt' >"$work/path"

step() {
  echo
  echo "\$ cordon call $1 ($2)"
  "$cordon" call --audit-log "$audit" --input "$3" "$bundle" "$1"
  echo "[exit $?]"
}
step count "a transformer call" "$work/text"
step top "ten most frequent words" "$work/text"
step count_file "a file through the broker; refused unless /data is granted" "$work/path"
step panic "a panicking handler fails only its call" "$work/text"
step crash "SIGSEGV: the host sees the channel close" "$work/text"
step hang "killed at the manifest's 2 s call deadline" "$work/text"

echo
echo "\$ cordon audit query --type 'plugin.failed' / 'quota.*' / 'seccomp.*'"
for t in plugin.failed 'quota.*' 'seccomp.*'; do
  "$cordon" audit query --type "$t" "$audit"
done
echo
echo "\$ cordon audit verify"
"$cordon" audit verify "$audit"
