#!/usr/bin/env bash
# Runs a command the way cordon.service would run it, as far as that is possible without
# systemd as pid 1, with every setting read from the unit file:
#   CapabilityBoundingSet=, AmbientCapabilities= (must be empty), NoNewPrivileges=, Group= (the
#   process's gid, no supplementary groups, as for a service), UMask=, and a private mount
#   namespace built the way systemd builds it (tree assembled elsewhere, moved onto /,
#   chroot("."); PrivateMounts=: always, the namespace propagates nothing to the host) with
#   ProtectSystem= (yes, full, strict), ProtectHome= (yes, read-only, tmpfs),
#   PrivateTmp=, InaccessiblePaths= (directories; "-" prefix: skipped if missing),
#   ReadWritePaths=, RuntimeDirectory= and CacheDirectory= writable.
# RuntimeDirectory= is created as systemd does (root:Group=, RuntimeDirectoryMode=) if it does
# not exist; the caller removes it. A [Service] setting this script neither applies nor lists
# below as deliberately not applied makes it fail (exit 2), and so does a value it does not
# know: a new hardening setting in the unit must come with its emulation here, or the package
# test would claim a hardening it never ran under.
# Deliberately not applied: Type, Restart, RestartSec, KillMode (service management),
# EnvironmentFile and ExecStart (the caller expands them), DevicePolicy and Delegate (cgroup
# settings). Seccomp-based settings are refused by scripts/package-test.sh before this runs.
# Used by scripts/package-test.sh to show that sandboxes and the daemon work under the unit's
# hardening, and that the unit grants the capabilities they need.
#   packaging/test/unit-hardening.sh UNIT_FILE COMMAND [ARG...]     (as root)
# SIGTERM and SIGINT are passed on to COMMAND, whose exit status this script returns, so it
# can run a daemon in the background and stop it.
set -euo pipefail
unit="$1"
shift
die() { echo "unit-hardening: $*" >&2; exit 2; }
[ -f "$unit" ] || die "no unit file $unit"

# The [Service] section's settings, one "Key=value" per line (comments and blanks dropped).
service="$(sed -n '/^\[Service\]/,/^\[/{/^\[/d;/^[[:space:]]*#/d;/^[[:space:]]*$/d;p}' "$unit")"
applied="CapabilityBoundingSet AmbientCapabilities NoNewPrivileges Group UMask ProtectSystem PrivateMounts
  ProtectHome PrivateTmp InaccessiblePaths ReadWritePaths RuntimeDirectory RuntimeDirectoryMode
  CacheDirectory CacheDirectoryMode"
not_applied="Type Restart RestartSec KillMode EnvironmentFile ExecStart DevicePolicy Delegate"
for key in $(echo "$service" | sed 's/=.*//' | sort -u); do
  case " $(echo $applied $not_applied) " in
    *" $key "*) ;;
    *) die "$unit sets $key=, which this script does not emulate; add it here" ;;
  esac
done
# The last assignment wins, as in systemd (these settings are not lists in this unit).
setting() { echo "$service" | sed -n "s/^$1=//p" | tail -1; }

caps="$(setting CapabilityBoundingSet | tr ' ' '\n' | sed -n 's/^CAP_\(.*\)$/+\L\1/p' | paste -sd, -)"
[ -n "$caps" ] || die "no CapabilityBoundingSet= in $unit"
[ -z "$(setting AmbientCapabilities)" ] || die "AmbientCapabilities= is not emulated"
case "$(setting NoNewPrivileges)" in
  yes | true | on | 1) nnp=--no-new-privs ;;
  "" | no | false | off | 0) nnp= ;;
  *) die "NoNewPrivileges=$(setting NoNewPrivileges)" ;;
esac
umask_value="$(setting UMask)"
umask_value="${umask_value:-0022}"
group="$(setting Group)"
ids="--clear-groups"
if [ -n "$group" ]; then
  getent group "$group" >/dev/null || die "no group '$group'"
  ids="$ids --regid $group"
fi

# Mount plan, applied in order inside the namespace: "ro PATH" (remount a subtree read-only),
# "rw PATH" (bind the host's PATH writable), "tmp PATH" (private tmpfs), "hide PATH"
# (inaccessible: empty, read-only, mode 000).
plan=""
case "$(setting ProtectSystem)" in
  "" | no | false | off | 0) ;;
  yes | true | on | 1) plan="ro /usr
ro /boot
ro /efi" ;;
  full) plan="ro /usr
ro /boot
ro /efi
ro /etc" ;;
  strict) plan="ro /" ;;
  *) die "ProtectSystem=$(setting ProtectSystem)" ;;
esac
case "$(setting ProtectHome)" in
  "" | no | false | off | 0) ;;
  yes | true | on | 1) plan="$plan
hide /home
hide /root
hide /run/user" ;;
  read-only) plan="$plan
ro /home
ro /root
ro /run/user" ;;
  tmpfs) plan="$plan
tmp /home
tmp /root
tmp /run/user" ;;
  *) die "ProtectHome=$(setting ProtectHome)" ;;
esac
case "$(setting PrivateTmp)" in
  "" | no | false | off | 0) ;;
  yes | true | on | 1) plan="$plan
tmp /tmp
tmp /var/tmp" ;;
  *) die "PrivateTmp=$(setting PrivateTmp)" ;;
esac
for p in $(echo "$service" | sed -n 's/^InaccessiblePaths=//p'); do
  optional=0
  case "$p" in -*) optional=1; p="${p#-}" ;; esac
  if [ ! -e "$p" ]; then
    [ "$optional" = 1 ] || die "InaccessiblePaths= $p does not exist (systemd would fail too)"
    continue
  fi
  [ -d "$p" ] || die "InaccessiblePaths= $p: only directories are emulated"
  plan="$plan
hide $p"
done
for p in $(echo "$service" | sed -n 's/^ReadWritePaths=//p'); do
  [ -d "${p#-}" ] || die "ReadWritePaths= $p is not a directory here"
  plan="$plan
rw ${p#-}"
done
runtime_dir="$(setting RuntimeDirectory)"
if [ -n "$runtime_dir" ]; then
  plan="$plan
rw /run/$runtime_dir"
  if [ ! -d "/run/$runtime_dir" ]; then
    install -d -m "$(setting RuntimeDirectoryMode)" -o root -g "${group:-root}" "/run/$runtime_dir"
  fi
fi

cache_dir="$(setting CacheDirectory)"
if [ -n "$cache_dir" ]; then
  # systemd creates it (owned by the unit's User=, root here) and exempts it from
  # ProtectSystem=strict.
  plan="$plan
rw /var/cache/$cache_dir"
  install -d -m "$(setting CacheDirectoryMode)" -o root -g root "/var/cache/$cache_dir"
fi

root="$(mktemp -d /tmp/cordon-unit-root.XXXXXX)"
trap 'rmdir "$root" 2>/dev/null || true' EXIT
# The mount namespace (and every mount below) disappears with the unshare'd process. unshare
# (without --fork), sh, chroot and setpriv all exec, so $! below is COMMAND's pid. Standard
# input is passed explicitly: a background job would otherwise get /dev/null.
unshare -m -- /bin/sh -eu -c '
  root="$1"; caps="$2"; plan="$3"; ids="$4"; nnp="$5"; umask_value="$6"; shift 6
  mount --make-rprivate /
  mount --rbind / "$root"
  echo "$plan" | while read -r what path; do
    [ -n "$what" ] || continue
    target="$root${path%/}"
    case "$what" in
      ro)
        # Every mount at or below PATH, except the API file systems (/dev, /proc, /sys), as
        # ProtectSystem= leaves them. A PATH that is no mount point becomes one first.
        [ -d "$target" ] || continue
        mountpoint -q "$target" || mount --rbind "$target" "$target"
        findmnt -R -n -r -o TARGET "$target" 2>/dev/null | while read -r m; do
          case "${m#"$root"}" in /dev | /dev/* | /proc | /proc/* | /sys | /sys/*) continue ;; esac
          mount -o remount,bind,ro "$m"
        done ;;
      rw) mount --bind "$path" "$target" ;;
      tmp) if [ -d "$target" ]; then mount -t tmpfs -o mode=1777 tmpfs "$target"; fi ;;
      hide) if [ -d "$target" ]; then mount -t tmpfs -o ro,mode=000 tmpfs "$target"; fi ;;
    esac
  done
  cd "$root"
  mount --move . /
  umask "$umask_value"
  # shellcheck disable=SC2086
  exec chroot . /usr/bin/setpriv $nnp --bounding-set=-all,"$caps" --inh-caps=-all \
    --ambient-caps=-all $ids -- "$@"
' sh "$root" "$caps" "$plan" "$ids" "$nnp" "$umask_value" "$@" <&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT
status=0
# wait returns early (status > 128) when a trapped signal arrives; wait again for the real one.
while :; do
  wait "$child" && status=0 || status=$?
  kill -0 "$child" 2>/dev/null || break
done
exit "$status"
