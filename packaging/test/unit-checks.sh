#!/usr/bin/env bash
# Static checks of the installed cordon.service, called by scripts/package-test.sh once the
# .deb is installed (systemd-analyze verify needs the binary and the man pages it names):
#   1. no directive that systemd implements with a seccomp filter (see below);
#   2. exactly the expected hardening: the capability bounding set and each setting below, so
#      that dropping one, or adding a capability, fails;
#   3. `systemd-analyze verify` accepts the unit (ExecStart= executable, Documentation= pages
#      found by man, no unknown or malformed setting);
#   4. `systemd-analyze security --offline=true` rates it at most $threshold (x10: 6.6 MEDIUM
#      is 66), what this unit scores; a weaker unit fails.
# systemd-analyze verify and security --offline read unit files and need no systemd as pid 1.
#   packaging/test/unit-checks.sh UNIT_FILE
set -euo pipefail
unit="$1"
threshold=66
fail() { echo "unit-checks: FAIL: $*" >&2; exit 1; }
[ -f "$unit" ] || fail "no unit file $unit"
settings="$(sed -n '/^[[:space:]]*#/d; /^[A-Za-z]\+=/p' "$unit")"

# 1. Seccomp. systemd.exec(5) of systemd 252 (the list under NoNewPrivileges=, and each
# setting's own text) names these as installing a seccomp filter, or implying one
# (DynamicUser= implies RestrictSUIDSGID=; SystemCallErrorNumber= only makes sense with
# SystemCallFilter=). A filter in the service is inherited by every plugin and its ERRNO/KILL
# actions outrank the USER_NOTIF of cordon's own filter: the plugin's violation would be
# answered by systemd, unrecorded, and the profile's on_violation never applied
# (docs/security.md, "The daemon under systemd"). Any assignment counts, even "=no": the line
# has no business in this unit.
seccomp_directives="SystemCallFilter SystemCallArchitectures SystemCallLog SystemCallErrorNumber
  RestrictAddressFamilies RestrictNamespaces LockPersonality RestrictRealtime RestrictSUIDSGID
  MemoryDenyWriteExecute ProtectClock ProtectHostname ProtectKernelModules ProtectKernelLogs
  ProtectKernelTunables PrivateDevices DynamicUser"
found=""
for d in $seccomp_directives; do
  if echo "$settings" | grep -q "^$d="; then found="$found $d"; fi
done
[ -z "$found" ] ||
  fail "$unit sets seccomp-based directives:$found. systemd would stack their filter under every plugin, and its errno/kill outranks cordon's notification: violations would go unrecorded (docs/security.md, 'The daemon under systemd')"

# 2. The hardening, exactly. Each line must appear once with this value.
expected="CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_SYS_PTRACE
AmbientCapabilities=
NoNewPrivileges=yes
Group=cordon
RuntimeDirectory=cordon
RuntimeDirectoryMode=0750
CacheDirectory=cordon
CacheDirectoryMode=0700
UMask=0027
ReadWritePaths=/var/log/cordon
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateMounts=yes
DevicePolicy=closed
InaccessiblePaths=-/usr/lib/modules
Delegate=memory pids cpu"
while IFS= read -r line; do
  key="${line%%=*}"
  got="$(echo "$settings" | grep "^$key=" || true)"
  [ "$got" = "$line" ] || fail "$unit: want '$line', found '${got:-nothing}'"
done <<< "$expected"
# The bounding set once more, as a set: no capability beyond these three, whatever the order.
caps="$(echo "$settings" | sed -n 's/^CapabilityBoundingSet=//p' | tr ' ' '\n' | sort | paste -sd' ')"
[ "$caps" = "CAP_SETGID CAP_SETUID CAP_SYS_PTRACE" ] || fail "CapabilityBoundingSet is '$caps'"

# 3. systemd's own parser and checks.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
systemd-analyze verify "$unit" > "$log" 2>&1 || { cat "$log" >&2; fail "systemd-analyze verify $unit"; }
[ ! -s "$log" ] || { cat "$log" >&2; fail "systemd-analyze verify $unit printed warnings"; }

# 4. The exposure score.
report="$(systemd-analyze security --offline=true --threshold="$threshold" "$unit" 2>&1)" ||
  { echo "$report" | tail -40 >&2; fail "systemd-analyze security rates $unit above $threshold"; }
score="$(echo "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
[ -n "$score" ] || fail "no exposure level in systemd-analyze security's report"
echo "unit-checks: no seccomp-based directive; bounding set $caps and the expected hardening; systemd-analyze verify clean; exposure $score (threshold $threshold)"
