#!/usr/bin/env bash
# The .rpm upgrade test, called by packaging/test/upgrade.sh. rpm does not install into
# Debian's own root (its database knows none of the system's packages), so each case gets a
# test root: a tmpfs in a private mount namespace with the host's /usr as the lower layer of an
# overlay (so rpm's files and the scriptlets' changes land in the tmpfs, never on the host),
# /bin, /sbin, /lib, /lib64 linking into it as on the host, copies of the host's account files
# without the group cordon, /dev and /proc, and an empty rpm database. `rpm --root` runs the
# scriptlets chrooted into it, so they run for real: %pre creates the group with
# systemd-sysusers, %post /var/log/cordon with systemd-tmpfiles, as on Fedora (no systemd runs
# there, so no daemon-reload). --nodeps: the test root's rpm database provides nothing.
# The 0.1.0-1 serve.env differs from the new one, as it must for %config(noreplace) to matter:
#   a. serve.env modified: rpm -U NEW keeps it and writes the new one as serve.env.rpmnew
#      (plain %config would replace it and keep the old as .rpmsave); rpm -e then saves the
#      modified file as serve.env.rpmsave and removes every other file of the package.
#   b. serve.env unmodified: rpm -U NEW replaces it, no .rpmnew.
#   packaging/test/rpm-upgrade.sh OLD_RPM NEW_RPM WORKDIR         (as root)
set -euo pipefail
if [ "${CORDON_RPM_UPGRADE_NS:-}" != 1 ]; then
  exec env CORDON_RPM_UPGRADE_NS=1 unshare -m -- "$0" "$@"
fi
old_rpm="$1"
rpmfile="$2"
work="$3"
fail() { echo "rpm-upgrade: FAIL: $*" >&2; exit 1; }
mount --make-rprivate /
base="$work/rpmroots"
mkdir -p "$base"
mount -t tmpfs -o size=1g,mode=0700 tmpfs "$base"

rpm_env="$work/serve.env.rpm"
rpm2archive - < "$rpmfile" | tar -xzOf - ./etc/cordon/serve.env > "$rpm_env"
[ -s "$rpm_env" ] || fail "no ./etc/cordon/serve.env in $rpmfile"
new_version="$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$rpmfile" 2>/dev/null)"

# new_root NAME: prints the path of a fresh test root.
new_root() {
  local r="$base/$1"
  mkdir -p "$r/root/usr" "$r/upper" "$r/work"
  mount -t overlay overlay -o "lowerdir=/usr,upperdir=$r/upper,workdir=$r/work" "$r/root/usr"
  local l
  for l in bin sbin lib lib64; do ln -s "usr/$l" "$r/root/$l"; done
  mkdir -p "$r/root/etc" "$r/root/var/lib/rpm" "$r/root/var/log" "$r/root/run" "$r/root/tmp" \
    "$r/root/dev" "$r/root/proc"
  chmod 1777 "$r/root/tmp"
  local f
  for f in passwd shadow login.defs nsswitch.conf ld.so.cache; do
    if [ -e "/etc/$f" ]; then cp -a "/etc/$f" "$r/root/etc/$f"; fi
  done
  for f in group gshadow; do
    if [ -e "/etc/$f" ]; then grep -v '^cordon:' "/etc/$f" > "$r/root/etc/$f"; fi
  done
  mount --rbind /dev "$r/root/dev"
  mount -t proc proc "$r/root/proc"
  rpmdb --root "$r/root" --dbpath /var/lib/rpm --initdb || fail "rpmdb --initdb in $r/root"
  echo "$r/root"
}
rpm_in() {
  local r="$1"
  shift
  rpm --root "$r" --dbpath /var/lib/rpm --nodeps "$@" > "$work/rpm.log" 2>&1 ||
    { cat "$work/rpm.log" >&2; fail "rpm --root $r $*"; }
}

# a: modified serve.env.
r="$(new_root a)"
rpm_in "$r" -U "$old_rpm"
grep -q '^cordon:' "$r/etc/group" || fail "%pre did not create the group cordon in the test root"
[ "$(stat -c '%a %U %G' "$r/var/log/cordon")" = "2750 root adm" ] ||
  fail "%post made /var/log/cordon $(stat -c '%a %U %G' "$r/var/log/cordon") in the test root, want 2750 root adm"
cmp -s "$r/etc/cordon/serve.env" "$rpm_env" && fail "the 0.1.0-1 rpm's serve.env equals the new one: the test would show nothing"
echo "# local change $$" >> "$r/etc/cordon/serve.env"
rpm_in "$r" -U "$rpmfile"
[ "$(rpm --root "$r" --dbpath /var/lib/rpm -q --qf '%{VERSION}-%{RELEASE}' cordon)" = "$new_version" ] ||
  fail "rpm -U did not install $new_version"
grep -q "# local change $$" "$r/etc/cordon/serve.env" || fail "rpm -U replaced the modified serve.env (not noreplace)"
cmp -s "$r/etc/cordon/serve.env.rpmnew" "$rpm_env" || fail "rpm -U did not write the new serve.env as serve.env.rpmnew"
[ ! -e "$r/etc/cordon/serve.env.rpmsave" ] || fail "rpm -U saved serve.env as .rpmsave (plain %config, not noreplace)"
rpm_in "$r" -e cordon
grep -q "# local change $$" "$r/etc/cordon/serve.env.rpmsave" || fail "rpm -e did not keep the modified serve.env as .rpmsave"
# find fails for the paths that are gone, as they should be.
left="$( (cd "$r" && find etc/cordon usr/share/cordon usr/bin/cordon var/lib/cordon \
  usr/lib/systemd/system/cordon.service usr/share/man/man1/cordon.1.gz 2>/dev/null || true) |
  sort | tr '\n' ' ')"
[ "$left" = "etc/cordon etc/cordon/serve.env.rpmnew etc/cordon/serve.env.rpmsave " ] ||
  fail "after rpm -e expected only serve.env.rpmsave and .rpmnew in etc/cordon, found: $left"

# b: unmodified serve.env.
r="$(new_root b)"
rpm_in "$r" -U "$old_rpm"
rpm_in "$r" -U "$rpmfile"
cmp -s "$r/etc/cordon/serve.env" "$rpm_env" || fail "rpm -U did not replace the unmodified serve.env"
[ ! -e "$r/etc/cordon/serve.env.rpmnew" ] && [ ! -e "$r/etc/cordon/serve.env.rpmsave" ] ||
  fail "rpm -U of an unmodified serve.env left .rpmnew/.rpmsave"
echo "upgrade: rpm 0.1.0-1 -> $new_version in overlay test roots, scriptlets run (group cordon by systemd-sysusers, /var/log/cordon 2750 root:adm by systemd-tmpfiles): modified serve.env kept and the new one written as .rpmnew, .rpmsave on erase; unmodified serve.env replaced"
