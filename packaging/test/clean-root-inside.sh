#!/bin/bash
# Runs inside the clean root prepared by clean-root.sh.
set -eu
export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
fail() { echo "clean-root: FAIL: $*" >&2; exit 1; }
# File lists, without package-manager state and the backups groupadd writes (the group
# "cordon" itself stays after purge, as Debian policy wants).
snapshot() {
  find / -xdev \( -path /tmp -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache \
    -o -path /var/log/apt -o -path /var/log/dpkg.log -o -path /var/log/alternatives.log \
    -o -path /proc -o -path /sys -o -path /dev -o -path /run \) -prune -o -print |
    grep -vx -e /etc/group- -e /etc/gshadow- -e /etc/passwd- -e /etc/shadow- | sort
}
apt-get update -qq >/dev/null
# Only what the .deb declares: a missing dependency shows up below as cordon failing to start.
depends="$(dpkg-deb -f /tmp/cordon.deb Depends | tr ',' '\n' | sed 's/(.*)//; s/|.*//' | xargs)"
apt-get install -y -qq --no-install-recommends $depends >/dev/null || fail "installing Depends: $depends"
snapshot > /tmp/before
! getent group cordon >/dev/null || fail "the clean root already has a group cordon"
dpkg -i /tmp/cordon.deb > /tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i in the clean root"; }
getent group cordon >/dev/null || fail "postinst (groupadd fallback) did not create group cordon"
[ "$(stat -c '%a %U %G' /var/log/cordon)" = "2750 root adm" ] ||
  fail "postinst (mkdir fallback) made /var/log/cordon $(stat -c '%a %U %G' /var/log/cordon 2>&1), want 2750 root adm"
got="$(/usr/bin/cordon run -- /bin/echo ok)" || fail "cordon run -- /bin/echo ok exited $?"
[ "$got" = ok ] || fail "cordon run -- /bin/echo ok printed '$got'"
/usr/bin/cordon run --profile minimal --memory 64M --audit-log /var/log/cordon/run.jsonl \
  -- /usr/local/bin/cordon-static-true || fail "cordon run --profile minimal exited $?"
[ -d /var/lib/cordon/data ] || fail "/var/lib/cordon/data (fs-reader's host directory) not installed"
echo "clean-root: installed with only its declared Depends; cordon run works (default, minimal)"
dpkg -r cordon >/dev/null 2>&1 || fail "dpkg -r"
snapshot > /tmp/removed
left="$(comm -13 /tmp/before /tmp/removed | tr '\n' ' ')"
gone="$(comm -23 /tmp/before /tmp/removed | tr '\n' ' ')"
[ -z "$gone" ] || fail "dpkg -r deleted files it did not install: $gone"
# The conffile and the audit logs: logs survive removal (debian/postrm deletes them on purge).
[ "$left" = "/etc/cordon /etc/cordon/serve.env /var/log/cordon /var/log/cordon/run.jsonl " ] ||
  fail "after dpkg -r expected only /etc/cordon/serve.env and /var/log/cordon, found: $left"
echo "clean-root: after dpkg -r the root differs only by: $left"
dpkg -P cordon >/dev/null 2>&1 || fail "dpkg -P"
snapshot > /tmp/purged
diff /tmp/before /tmp/purged > /tmp/diff || { cat /tmp/diff; fail "purge left files behind"; }
echo "clean-root: after dpkg -P the root's file list equals the one before installing"
