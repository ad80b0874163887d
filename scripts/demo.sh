#!/usr/bin/env bash
# The README's first command: install dependencies, build, run a demo program sandboxed and
# show the audit log it produced.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/install-deps.sh"
"$here/scripts/build.sh"
cordon="$here/build/launcher/cli/cordon"
workdir=$(mktemp -d)
log="$workdir/audit.jsonl"
trap 'rm -rf "$workdir"' EXIT

echo "== 1. A shell script, sandboxed under the 'default' profile"
set +e
"$cordon" run --profile default --audit-log "$log" -- /bin/sh -c '
  echo "inside: uid=$(id -u) pid=$$ hostname=$(hostname)"
  grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status
  echo "processes visible: $(ls /proc | grep -cE "^[0-9]+$")"
  echo "network interfaces: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " ")"
  cat /root/.bashrc 2>&1 | head -1
  python3 -c "import socket; socket.socket(socket.AF_INET)" 2>&1 | tail -1
  exit 3'
status=$?
set -e
echo "== exit status: $status (the script exits 3)"

echo
echo "== 2. A memory bomb under a 32 MiB quota"
set +e
"$cordon" run --audit-log "$log" --memory 32M -- /usr/bin/python3 -c 'x = bytearray(256 << 20)'
echo "== exit status: $? (124: killed for a quota)"
set -e

echo
echo "== 3. A C++ plugin loaded, probed and called over its protobuf channel"
printf 'hello, cordon' > "$workdir/input"
"$cordon" call --audit-log "$log" --input "$workdir/input" "$here/build/examples/cpp/echo_plugin" reverse
echo

echo
echo "== The audit log ($log), as a table"
"$cordon" audit query "$log"
echo
echo "== Raw JSON Lines (first 3 records)"
head -n 3 "$log"
echo
echo "== Chain verification"
"$cordon" audit verify "$log"
echo
"$cordon" audit summary "$log"
