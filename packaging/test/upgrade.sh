#!/usr/bin/env bash
# Upgrade tests, called by scripts/package-test.sh (as root, with no cordon package installed):
# builds cordon 0.1.0-1 .deb and .rpm with CPack from the same package tree (release 1, the
# Unspecified component only, packaging/test/old-version.cmake adjusting the staged files)
# and upgrades each to the packages under test.
#   .deb, on this machine (twice):
#     a. 0.1.0-1 installed, /etc/cordon/serve.env and the old conffile cordon.conf modified, a
#        log of group cordon in a /var/log/cordon without set-group-id (as 0.1.0-2 left it);
#        dpkg -i NEW (no --force-conf*, stdin /dev/null: a conffile prompt fails) must keep
#        serve.env's change, keep cordon.conf as cordon.conf.dpkg-bak (dpkg-maintscript-helper
#        rm_conffile in preinst/postinst), give the log to adm and make the directory 2750;
#        dpkg -P must remove all of it, the .dpkg-bak too (postrm).
#     b. 0.1.0-1 installed, nothing modified: after dpkg -i NEW cordon.conf is gone (no
#        .dpkg-bak) and serve.env is the new package's.
#   .rpm: packaging/test/rpm-upgrade.sh, in test roots.
#   packaging/test/upgrade.sh PACKAGE_TREE NEW_DEB NEW_RPM WORKDIR
set -euo pipefail
tree="$1"
deb="$2"
rpmfile="$3"
work="$4"
here="$(cd "$(dirname "$0")" && pwd)"
fail() { echo "upgrade: FAIL: $*" >&2; exit 1; }
# shellcheck source=packaging/test/lib.sh
. "$here/lib.sh"

# --- the 0.1.0-1 packages: release 1, cordon.conf as a conffile, maintainer scripts without
# the dpkg-maintscript-helper calls (0.1.0-1 had none).
old="$work/old"
mkdir -p "$old/control" "$old/out"
{ echo /etc/cordon/cordon.conf; cat "$here/../debian/conffiles"; } > "$old/control/conffiles"
for script in preinst postinst postrm; do
  sed '/dpkg-maintscript-helper/d' "$here/../debian/$script" > "$old/control/$script"
  chmod 0755 "$old/control/$script"
done
# Faster than the real build and no less an old package: gzip, the new package's Depends
# instead of running dpkg-shlibdeps again, no Built-Using post-processing.
cat > "$old/config.cmake" <<EOF
include("$tree/CPackConfig.cmake")
set(CPACK_COMPONENTS_ALL Unspecified)
set(CPACK_POST_BUILD_SCRIPTS "")
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "$(dpkg-deb -f "$deb" Depends)")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_CONTROL_EXTRA
    "$old/control/conffiles;$old/control/preinst;$old/control/postinst;$old/control/postrm")
list(APPEND CPACK_PRE_BUILD_SCRIPTS "$here/old-version.cmake")
EOF
for generator in DEB RPM; do
  (cd "$tree" && cpack --config "$old/config.cmake" -G "$generator" -B "$old/out") > "$old/cpack.log" 2>&1 ||
    { cat "$old/cpack.log" >&2; fail "cpack -G $generator of the 0.1.0-1 package"; }
done
old_deb="$old/out/cordon_0.1.0-1_amd64.deb"
old_rpm="$(ls "$old"/out/cordon-0.1.0-1.*.rpm)"
[ -f "$old_deb" ] && [ -f "$old_rpm" ] || fail "no 0.1.0-1 packages in $old/out"
old_files="$(dpkg-deb -c "$old_deb")"
echo "$old_files" | grep -q ' \./etc/cordon/cordon\.conf$' || fail "$old_deb lacks cordon.conf"
new_version="$(dpkg-deb -f "$deb" Version)"
new_env="$work/serve.env.new"
dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./etc/cordon/serve.env > "$new_env"
echo "upgrade: built cordon 0.1.0-1 ($(basename "$old_deb"), $(basename "$old_rpm")) to upgrade to $new_version"

# dpkg --no-triggers: man-db's trigger (about 10 s here) would run after every step; the last
# purge below runs it once. cordon has no triggers of its own.

# --- .deb a: local changes survive, the old conffile is kept as .dpkg-bak, the logs go to adm.
dpkg_wait dpkg --no-triggers -i "$old_deb" || fail "dpkg -i $old_deb"
[ "$(dpkg-query -W -f='${Version}' cordon)" = 0.1.0-1 ] || fail "0.1.0-1 not installed"
dpkg-query -W -f='${Conffiles}\n' cordon | grep -q '^ /etc/cordon/cordon.conf ' ||
  fail "0.1.0-1 does not list /etc/cordon/cordon.conf as a conffile"
echo "# local change $$" >> /etc/cordon/serve.env
echo "# local change $$" >> /etc/cordon/cordon.conf
chmod g-s /var/log/cordon
install -m 0640 -o root -g cordon /dev/null /var/log/cordon/audit.jsonl
dpkg_wait dpkg --no-triggers -i "$deb" || fail "dpkg -i $deb over 0.1.0-1 (a conffile prompt?)"
[ "$(dpkg-query -W -f='${Version}' cordon)" = "$new_version" ] || fail "upgrade did not install $new_version"
grep -q "# local change $$" /etc/cordon/serve.env || fail "the upgrade lost the change to serve.env"
[ ! -e /etc/cordon/serve.env.dpkg-dist ] || fail "dpkg wrote serve.env.dpkg-dist although the packaged file did not change"
[ ! -e /etc/cordon/cordon.conf ] || fail "the modified cordon.conf is still in place after the upgrade"
grep -q "# local change $$" /etc/cordon/cordon.conf.dpkg-bak ||
  fail "the modified cordon.conf was not kept as cordon.conf.dpkg-bak"
if dpkg-query -W -f='${Conffiles}\n' cordon | grep '/etc/cordon/cordon.conf' | grep -qv obsolete; then
  fail "dpkg still lists cordon.conf as a live conffile"
fi
[ "$(stat -c '%a %U %G' /var/log/cordon)" = "2750 root adm" ] ||
  fail "after the upgrade /var/log/cordon is $(stat -c '%a %U %G' /var/log/cordon), want 2750 root adm"
[ "$(stat -c '%a %U %G' /var/log/cordon/audit.jsonl)" = "640 root adm" ] ||
  fail "after the upgrade the old log is $(stat -c '%a %U %G' /var/log/cordon/audit.jsonl), want 640 root adm"
dpkg_wait dpkg --no-triggers -P cordon || fail "dpkg -P after the upgrade"
for path in /etc/cordon /var/log/cordon /var/lib/cordon /usr/share/cordon /usr/bin/cordon; do
  [ ! -e "$path" ] || fail "after purging the upgraded package $path is left"
done
echo "upgrade: deb 0.1.0-1 -> $new_version: modified serve.env kept without a prompt, modified cordon.conf kept as .dpkg-bak (removed on purge), old log handed to adm, directory 2750 root:adm"

# --- .deb b: the unmodified old conffile goes, serve.env is the new one.
dpkg_wait dpkg --no-triggers -i "$old_deb" || fail "dpkg -i $old_deb (second time)"
dpkg_wait dpkg --no-triggers -i "$deb" || fail "dpkg -i $deb over an unmodified 0.1.0-1"
[ ! -e /etc/cordon/cordon.conf ] && [ ! -e /etc/cordon/cordon.conf.dpkg-bak ] ||
  fail "the unmodified cordon.conf was not removed: $(ls /etc/cordon)"
cmp -s /etc/cordon/serve.env "$new_env" || fail "serve.env is not the new package's after the upgrade"
dpkg_wait dpkg -P cordon || fail "dpkg -P after the second upgrade"
[ ! -e /etc/cordon ] || fail "/etc/cordon left after purge: $(ls -A /etc/cordon)"
echo "upgrade: deb 0.1.0-1 -> $new_version, unmodified: cordon.conf removed, serve.env replaced"

# --- .rpm, into test roots (packaging/test/rpm-upgrade.sh).
"$here/rpm-upgrade.sh" "$old_rpm" "$rpmfile" "$work"
