#!/usr/bin/env bash
# Runs a command the way cordon.service would run it, as far as that is possible without
# systemd as pid 1: the capability bounding set read from the unit file, no_new_privs, and a
# private mount namespace built the way systemd builds it (tree assembled elsewhere, moved onto
# /, chroot(".")) with ProtectSystem=strict (read-only root), ProtectHome=yes, PrivateTmp=yes
# and ProtectKernelModules=yes. Used by scripts/package-test.sh to show that sandboxes still
# work under the unit's hardening, and that the unit grants the capabilities they need.
#   packaging/test/unit-hardening.sh UNIT_FILE COMMAND [ARG...]     (as root)
# Not emulated: seccomp-based settings (LockPersonality, RestrictRealtime, RestrictSUIDSGID,
# RestrictAddressFamilies, SystemCallArchitectures), DevicePolicy, Delegate.
set -euo pipefail
unit="$1"
shift
caps="$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr ' ' '\n' |
  sed -n 's/^CAP_\(.*\)$/+\L\1/p' | paste -sd, -)"
[ -n "$caps" ] || { echo "unit-hardening: no CapabilityBoundingSet= in $unit" >&2; exit 2; }
grep -qx 'NoNewPrivileges=yes' "$unit" || { echo "unit-hardening: unit lacks NoNewPrivileges" >&2; exit 2; }
root="$(mktemp -d /tmp/cordon-unit-root.XXXXXX)"
trap 'rmdir "$root" 2>/dev/null || true' EXIT
# The mount namespace (and every mount below) disappears with the unshare'd process.
unshare -m -- /bin/sh -eu -c '
  root="$1"; caps="$2"; shift 2
  mount --make-rprivate /
  mount --rbind / "$root"
  mount -o remount,bind,ro "$root"
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  mount -t tmpfs -o mode=1777 tmpfs "$root/var/tmp"
  for d in home root run/user usr/lib/modules; do
    if [ -d "$root/$d" ]; then mount -t tmpfs -o ro,mode=000 tmpfs "$root/$d"; fi
  done
  cd "$root"
  mount --move . /
  exec chroot . /usr/bin/setpriv --no-new-privs --bounding-set=-all,"$caps" --inh-caps=-all \
    --ambient-caps=-all -- "$@"
' sh "$root" "$caps" "$@"
