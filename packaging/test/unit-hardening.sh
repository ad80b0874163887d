#!/usr/bin/env bash
# Runs a command the way cordon.service would run it, as far as that is possible without
# systemd as pid 1: the capability bounding set read from the unit file, no_new_privs, the
# unit's Group= as the process's gid (no supplementary groups, as for a service), and a
# private mount namespace built the way systemd builds it (tree assembled elsewhere, moved onto
# /, chroot(".")) with ProtectSystem=strict (read-only root), ReadWritePaths= and the
# RuntimeDirectory= writable, ProtectHome=yes, PrivateTmp=yes and ProtectKernelModules=yes.
# RuntimeDirectory= is created as systemd does (root:Group=, RuntimeDirectoryMode=) if it does
# not exist; the caller removes it. Used by scripts/package-test.sh to show that sandboxes
# and the daemon still work under the unit's hardening, and that the unit grants the
# capabilities they need.
#   packaging/test/unit-hardening.sh UNIT_FILE COMMAND [ARG...]     (as root)
# SIGTERM and SIGINT are passed on to COMMAND, whose exit status this script returns, so it
# can run a daemon in the background and stop it.
# Not emulated: seccomp-based settings (LockPersonality, RestrictRealtime, RestrictSUIDSGID,
# RestrictAddressFamilies, SystemCallArchitectures), DevicePolicy, Delegate, EnvironmentFile
# (the caller expands the arguments).
set -euo pipefail
unit="$1"
shift
setting() { sed -n "s/^$1=//p" "$unit" | tail -1; }
caps="$(setting CapabilityBoundingSet | tr ' ' '\n' | sed -n 's/^CAP_\(.*\)$/+\L\1/p' | paste -sd, -)"
[ -n "$caps" ] || { echo "unit-hardening: no CapabilityBoundingSet= in $unit" >&2; exit 2; }
grep -qx 'NoNewPrivileges=yes' "$unit" || { echo "unit-hardening: unit lacks NoNewPrivileges" >&2; exit 2; }
group="$(setting Group)"
ids=(--clear-groups)
if [ -n "$group" ]; then
  getent group "$group" >/dev/null || { echo "unit-hardening: no group '$group'" >&2; exit 2; }
  ids+=(--regid "$group")
fi
writable="$(setting ReadWritePaths)"
runtime_dir="$(setting RuntimeDirectory)"
if [ -n "$runtime_dir" ]; then
  writable="$writable /run/$runtime_dir"
  if [ ! -d "/run/$runtime_dir" ]; then
    install -d -m "$(setting RuntimeDirectoryMode)" -o root -g "${group:-root}" "/run/$runtime_dir"
  fi
fi
root="$(mktemp -d /tmp/cordon-unit-root.XXXXXX)"
trap 'rmdir "$root" 2>/dev/null || true' EXIT
# The mount namespace (and every mount below) disappears with the unshare'd process. unshare
# (without --fork), sh, chroot and setpriv all exec, so $! below is COMMAND's pid. Standard
# input is passed explicitly: a background job would otherwise get /dev/null.
unshare -m -- /bin/sh -eu -c '
  root="$1"; caps="$2"; writable="$3"; ids="$4"; shift 4
  mount --make-rprivate /
  mount --rbind / "$root"
  mount -o remount,bind,ro "$root"
  for p in $writable; do
    if [ -d "$p" ]; then mount --bind "$p" "$root$p"; fi
  done
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  mount -t tmpfs -o mode=1777 tmpfs "$root/var/tmp"
  for d in home root run/user usr/lib/modules; do
    if [ -d "$root/$d" ]; then mount -t tmpfs -o ro,mode=000 tmpfs "$root/$d"; fi
  done
  cd "$root"
  mount --move . /
  # shellcheck disable=SC2086
  exec chroot . /usr/bin/setpriv --no-new-privs --bounding-set=-all,"$caps" --inh-caps=-all \
    --ambient-caps=-all $ids -- "$@"
' sh "$root" "$caps" "$writable" "${ids[*]}" "$@" <&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT
status=0
# wait returns early (status > 128) when a trapped signal arrives; wait again for the real one.
while :; do
  wait "$child" && status=0 || status=$?
  kill -0 "$child" 2>/dev/null || break
done
exit "$status"
