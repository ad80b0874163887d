#!/usr/bin/env bash
# Cold start to ready (issue 4): `cordon call` of the echo example plugin (spawn, handshake,
# one call, graceful shutdown) side by side with `cordon run` of a static true under the same
# profile, interleaved round by round so machine load hits both alike.
#   sudo bench/ipc/cold_start.sh [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
rounds="${1:-50}"
cordon="${CORDON:-$root/build/launcher/cli/cordon}"
bundle="$root/build/examples/cpp/echo_plugin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf 'int main(void){return 0;}\n' > "$work/true.c"
gcc -O2 -static -o "$work/true" "$work/true.c"
: > "$work/input"
declare -A total
names=(run call)
for i in $(seq 1 "$rounds"); do
  for name in "${names[@]}"; do
    start=$(date +%s%N)
    if [ "$name" = run ]; then
      "$cordon" run --profile default -- "$work/true"
    else
      "$cordon" call --profile default --input "$work/input" "$bundle" echo >/dev/null
    fi
    end=$(date +%s%N)
    echo "$name $(( (end - start) / 1000 ))" >> "$work/samples"
  done
done
echo "cold start, $rounds interleaved rounds, profile default (microseconds)"
for name in "${names[@]}"; do
  grep "^$name " "$work/samples" | cut -d' ' -f2 | sort -n > "$work/$name.sorted"
  p50=$(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$work/$name.sorted")
  mean=$(awk '{s+=$1} END {printf "%d", s/NR}' "$work/$name.sorted")
  echo "$name p50=$p50 mean=$mean"
  eval "p50_$name=$p50"
done
awk -v a="$p50_call" -v b="$p50_run" 'BEGIN {printf "call-to-ready-and-back / run-of-true (p50): %.2fx\n", a / b}'
