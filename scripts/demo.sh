#!/usr/bin/env bash
# The README's first command: install dependencies, build, run a demo program sandboxed and
# show the audit log it produced.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/install-deps.sh"
"$here/scripts/build.sh"
cordon="$here/build/launcher/cli/cordon"
log=$(mktemp -d)/audit.jsonl
echo "== cordon run --profile default -- /bin/sh -c '...' (a demo program, sandboxed)"
set +e
"$cordon" run --profile default --audit-log "$log" -- /bin/sh -c '
  echo "hello from inside the sandbox: uid=$(id -u) pid=$$ hostname=$(hostname)"
  grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status
  echo "processes visible:"; ls /proc | grep -E "^[0-9]+$" | tr "\n" " "; echo
  echo "network interfaces:"; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "
  cat /root/.bashrc 2>&1 | head -1
  exit 3'
status=$?
set -e
echo "== exit status: $status (the program exited 3)"
echo "== audit log: $log"
cat "$log"
