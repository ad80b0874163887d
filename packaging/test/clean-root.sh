#!/usr/bin/env bash
# Installs the .deb into a clean Debian root (debootstrap --variant=minbase, no systemd, so the
# maintainer scripts' fallbacks run), runs the installed cordon there, removes and purges it,
# and compares the root's file list before and after: after `dpkg -r` only the conffile and
# /var/log/cordon with the run's audit log may be left, after `dpkg -P` nothing. Called by
# scripts/package-test.sh when CLEAN_ROOT=1.
#   packaging/test/clean-root.sh DEB STATIC_PROGRAM          (as root; needs debootstrap and
#                                                             the Debian mirror)
# The minbase root is cached in $CORDON_PKGTEST_CACHE (default /var/tmp/cordon-pkgtest/base)
# and copied for every run; the copy is deleted afterwards.
set -euo pipefail
deb="$1"
program="$2"
cache="${CORDON_PKGTEST_CACHE:-/var/tmp/cordon-pkgtest/base}"
mirror="${CORDON_PKGTEST_MIRROR:-http://deb.debian.org/debian}"
here="$(cd "$(dirname "$0")" && pwd)"
fail() { echo "clean-root: FAIL: $*" >&2; exit 1; }

if [ ! -x "$cache/bin/sh" ]; then
  command -v debootstrap >/dev/null || fail "debootstrap missing (apt-get install debootstrap)"
  echo "clean-root: debootstrap bookworm minbase into $cache (once, ~2 min)"
  mkdir -p "$(dirname "$cache")"
  debootstrap --variant=minbase bookworm "$cache.tmp" "$mirror" > "$cache.log" 2>&1 ||
    fail "debootstrap failed, see $cache.log"
  mv "$cache.tmp" "$cache"
fi
root="$(mktemp -d /var/tmp/cordon-pkgtest/run.XXXXXX)"
trap 'rm -rf "$root"' EXIT
cp -a "$cache/." "$root/"
cp "$deb" "$root/tmp/cordon.deb"
cp "$program" "$root/usr/local/bin/cordon-static-true"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$here/clean-root-inside.sh" "$root/tmp/inside.sh"

# A private mount namespace whose root is the clean tree, moved onto / (not a chroot into a
# subdirectory: the kernel refuses user namespaces to chrooted processes). /proc, /sys (cgroups)
# and /dev come from the host; all of it disappears with the namespace.
unshare -m -- /bin/sh -eu -c '
  root="$1"
  mount --make-rprivate /
  mount --rbind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  cd "$root"
  mount --move . /
  exec chroot . /bin/bash /tmp/inside.sh
' sh "$root"
