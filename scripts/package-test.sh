#!/usr/bin/env bash
# CI test of the packages (issue 9): builds the .deb and .rpm (scripts/package.sh), runs lintian
# and checks the rpm's requirements, installs the .deb on this machine, runs the installed
# cordon against the installed profiles (also under cordon.service's hardening), upgrades over
# a modified conffile, removes (only conffiles may remain) and purges (nothing may remain);
# then does it again in a clean debootstrap root (packaging/test/clean-root.sh), where only
# the declared Depends are installed and the whole file tree is compared. Run as root:
#   sudo ./scripts/package-test.sh     # SKIP_BUILD=1 reuses build/packages/*;
#                                      # CLEAN_ROOT=0 skips the debootstrap part (needs the
#                                      # Debian mirror; the root is cached in /var/tmp)
# Leaves the machine as it found it (cordon not installed); refuses to run if a cordon package
# is already installed, since it would remove it.
# No pipefail: several checks are `producer | grep -q`, where grep exiting at the first match
# may SIGPIPE the producer; commands whose status matters are captured first instead.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build/packages"
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
step() { echo "package-test: $*"; }
# dpkg does not wait for its lock; on a shared machine another apt-get may hold it for a while.
dpkg_wait() {
  local i
  for i in $(seq 90); do
    if "$@" > "$work/dpkg.log" 2>&1; then return 0; fi
    grep -qi "lock" "$work/dpkg.log" || { cat "$work/dpkg.log" >&2; return 1; }
    sleep 2
  done
  cat "$work/dpkg.log" >&2
  return 1
}

[ "$(id -u)" = 0 ] || fail "run as root (dpkg -i)"
if dpkg-query -W -f='${Status}' cordon 2>/dev/null | grep -qv "not-installed"; then
  fail "a cordon package is already installed here; remove it first (dpkg -P cordon)"
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  "$root/scripts/package.sh" >/dev/null
fi
deb="$(ls -1 "$out"/cordon_*.deb | tail -1)"
rpmfile="$(ls -1 "$out"/cordon-*.rpm | tail -1)"
[ -f "$deb" ] && [ -f "$rpmfile" ] || fail "packages missing in $out"
step "packages: $(basename "$deb") $(basename "$rpmfile")"

work="$(mktemp -d /tmp/cordon-package-test.XXXXXX)"
cleanup() {
  dpkg_wait dpkg -P cordon || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- lintian: errors fail; every warning must be overridden (packaging/lintian-overrides,
# shipped as /usr/share/lintian/overrides/cordon, each with its reason).
# (--show-overrides would make overridden tags count for --fail-on, so it is not used.)
lintian --fail-on error,warning --display-info "$deb" > "$work/lintian" 2>&1 ||
  { cat "$work/lintian" >&2; fail "lintian reported errors or unaccepted warnings"; }
step "lintian: no errors, no unaccepted warnings ($(grep -c '^cordon:' "$root/packaging/lintian-overrides") accepted in packaging/lintian-overrides; info: $(grep '^I:' "$work/lintian" | cut -d' ' -f3 | tr '\n' ' '))"

# --- dependencies: every shared library the binary needs is declared, in both packages.
mkdir -p "$work/deb"
dpkg-deb -x "$deb" "$work/deb"
needed="$(objdump -p "$work/deb/usr/bin/cordon" | awk '/NEEDED/{print $2}' | sort)"
[ -n "$needed" ] || fail "no NEEDED entries in the packaged binary"
depends="$(dpkg-deb -f "$deb" Depends)"
for lib in $needed; do
  path="$(ldconfig -p | awk -v l="$lib" '$1==l && /x86-64/{print $NF; exit}')"
  [ -n "$path" ] || fail "cannot resolve $lib on the build machine"
  pkg="$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)"
  [ -n "$pkg" ] || pkg="$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)"
  [ -n "$pkg" ] || fail "no package owns $path ($lib)"
  echo "$depends" | tr ',|' '\n\n' | awk '{print $1}' | grep -qxF "$pkg" ||
    fail "deb Depends lacks $pkg (for $lib): $depends"
done
requires="$(rpm -qp --requires "$rpmfile" 2>/dev/null)" || fail "rpm -qp --requires failed"
rpm_config="$(rpm -qcp "$rpmfile" 2>/dev/null)" || fail "rpm -qcp failed"
rpm_files="$(rpm -qlp "$rpmfile" 2>/dev/null)" || fail "rpm -qlp failed"
for lib in $needed; do
  echo "$requires" | grep -qF "$lib" || fail "rpm requires lack $lib"
done
if echo "$requires" | grep -E '^/(work|tmp|home)|build/' ; then
  fail "rpm requires refer to build-machine paths"
fi
echo "$rpm_config" | grep -qx /etc/cordon/cordon.conf || fail "rpm: cordon.conf is not %config"
echo "$rpm_files" | grep -qx /etc/cordon/profiles || fail "rpm: /etc/cordon/profiles missing"
step "dependencies: deb Depends and rpm Requires cover all $(echo $needed | wc -w) NEEDED libraries"

# --- install (apt-get -f install pulls missing dependencies).
if ! dpkg_wait dpkg -i "$deb"; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=180 -f install -y -qq >/dev/null ||
    fail "apt-get -f install could not satisfy the .deb's dependencies"
fi
dpkg-query -W -f='${Status}' cordon | grep -qx "install ok installed" || fail "dpkg -i failed"
dpkg -L cordon | sort > "$work/files"
[ "$(dpkg-query -W -f='${Conffiles}' cordon | awk '{print $1}')" = /etc/cordon/cordon.conf ] ||
  fail "conffiles: $(dpkg-query -W -f='${Conffiles}' cordon)"
for f in /usr/bin/cordon /usr/share/cordon/profiles/default.textproto \
         /usr/share/cordon/profiles/minimal.textproto /etc/cordon/cordon.conf \
         /usr/share/doc/cordon/copyright /usr/share/man/man1/cordon-run.1.gz \
         /usr/share/man/man5/cordon-profile.5.gz; do
  [ -e "$f" ] || fail "$f not installed"
done
[ -d /etc/cordon/profiles ] || fail "/etc/cordon/profiles not installed"
getent group cordon >/dev/null || fail "postinst did not create group cordon"
[ -d /var/log/cordon ] || fail "postinst did not create /var/log/cordon"
step "installed: $(wc -l < "$work/files") paths, conffile /etc/cordon/cordon.conf"

# --- run the installed binary against the installed profiles, from a directory outside the
# source tree and with no CORDON_PROFILE_PATH, so nothing of the checkout can be used.
printf 'int main(void) { return 0; }\n' > "$work/true.c"
gcc -O2 -static -o "$work/static-true" "$work/true.c"
cd "$work"
shown="$(env -u CORDON_PROFILE_PATH /usr/bin/cordon profile show minimal)" ||
  fail "cordon profile show minimal exited $?"
echo "$shown" | head -1 | grep -q "from /usr/share/cordon/profiles/minimal.textproto" ||
  fail "cordon profile show minimal does not use /usr/share/cordon/profiles"
got="$(env -u CORDON_PROFILE_PATH /usr/bin/cordon run -- /bin/echo ok)" || fail "cordon run -- /bin/echo ok exited $?"
[ "$got" = ok ] || fail "cordon run -- /bin/echo ok printed '$got'"
env -u CORDON_PROFILE_PATH /usr/bin/cordon run --profile minimal \
  --audit-log /var/log/cordon/package-test.jsonl -- "$work/static-true" ||
  fail "cordon run --profile minimal -- static true exited $?"
/usr/bin/cordon audit verify /var/log/cordon/package-test.jsonl >/dev/null || fail "audit verify"
# A local profile in /etc/cordon/profiles is found before the shipped one.
sed 's/^name: "minimal"/name: "local-minimal"/' /usr/share/cordon/profiles/minimal.textproto \
  > /etc/cordon/profiles/minimal.textproto
shown="$(/usr/bin/cordon profile show minimal)" || fail "cordon profile show (local) exited $?"
echo "$shown" | head -1 | grep -q "'local-minimal' from /etc/cordon/profiles" ||
  fail "/etc/cordon/profiles does not override /usr/share/cordon/profiles"
rm /etc/cordon/profiles/minimal.textproto
man -w cordon-run >/dev/null 2>&1 || [ ! -x /usr/bin/man ] || fail "man -w cordon-run"
cd /
step "ran: cordon run -- /bin/echo ok; cordon run --profile minimal -- static true; audit verified"

# --- the host library: a C++ host builds against the installed headers and archive through
# pkg-config alone (the -dev packages of its Requires are present on a build machine).
cat > "$work/host.cc" <<'HOST'
#include "launcher/host/loaded_plugin.h"
int main() {
  cordon::host::LoadRequest request;
  request.bundle_dir = "/nonexistent";
  return cordon::host::LoadedPlugin::Load(request).ok() ? 1 : 0;
}
HOST
flags="$(pkg-config --cflags --libs --static cordon-host)" || fail "pkg-config cordon-host"
# shellcheck disable=SC2086
g++ -o "$work/host" "$work/host.cc" $flags || fail "a host program does not build with pkg-config cordon-host"
"$work/host" || fail "the host program built against the installed library failed"
step "host library: built and ran a host program with \$(pkg-config --cflags --libs cordon-host)"

# --- the same under cordon.service's hardening (bounding set from the installed unit, no_new_privs,
# read-only /, private /tmp, no /home), emulated by packaging/test/unit-hardening.sh. /tmp is
# private there, so the static program goes to /run.
unit=/usr/lib/systemd/system/cordon.service
runbin="$(mktemp -d /run/cordon-package-test.XXXXXX)"
cp "$work/static-true" "$runbin/"
got="$("$root/packaging/test/unit-hardening.sh" "$unit" /usr/bin/cordon run --memory 64M --pids 8 \
  -- /bin/echo ok)" || { rm -rf "$runbin"; fail "cordon run under the unit's hardening exited $?"; }
"$root/packaging/test/unit-hardening.sh" "$unit" /usr/bin/cordon run --profile minimal \
  -- "$runbin/static-true" || { rm -rf "$runbin"; fail "minimal profile under the unit's hardening"; }
rm -rf "$runbin"
[ "$got" = ok ] || fail "under the unit's hardening cordon run printed '$got'"
step "ran under cordon.service's hardening: $(sed -n 's/^CapabilityBoundingSet=//p' "$unit"), NoNewPrivileges, ProtectSystem=strict, ProtectHome, PrivateTmp"

# --- upgrade (reinstall) keeps a modified conffile.
echo "# local change $$" >> /etc/cordon/cordon.conf
dpkg_wait dpkg -i --force-confold "$deb" || fail "reinstall failed"
grep -q "# local change $$" /etc/cordon/cordon.conf || fail "upgrade overwrote cordon.conf"
step "upgrade: modified /etc/cordon/cordon.conf kept"

# --- remove: only the conffile (and its directory) may remain.
dpkg_wait dpkg -r cordon || fail "dpkg -r failed"
dpkg-query -W -f='${Status}' cordon | grep -qx "deinstall ok config-files" ||
  fail "after dpkg -r: status $(dpkg-query -W -f='${Status}' cordon)"
while read -r path; do
  case "$path" in
    /etc/cordon|/etc/cordon/cordon.conf) [ -e "$path" ] || fail "remove deleted conffile $path" ;;
    *) if [ -e "$path" ] && ! [ -d "$path" ]; then fail "left behind after remove: $path"; fi
       if [ -d "$path" ] && [[ "$path" == *cordon* ]]; then fail "directory left after remove: $path"; fi ;;
  esac
done < "$work/files"
step "remove: only /etc/cordon/cordon.conf left"

# --- purge: nothing left (the group stays, as Debian policy wants).
dpkg_wait dpkg -P cordon || fail "dpkg -P failed"
while read -r path; do
  if [[ "$path" == *cordon* ]] && [ -e "$path" ]; then fail "left behind after purge: $path"; fi
done < "$work/files"
for path in /etc/cordon /var/log/cordon /usr/share/cordon /usr/share/doc/cordon; do
  [ ! -e "$path" ] || fail "left behind after purge: $path"
done
if dpkg-query -W -f='${Status}' cordon 2>/dev/null | grep -qE "install ok installed|config-files"; then
  fail "dpkg still lists cordon after purge: $(dpkg-query -W -f='${Status}' cordon)"
fi
step "purge: nothing left (group 'cordon' kept by policy)"

if [ "${CLEAN_ROOT:-1}" = 1 ]; then
  status=0
  "$root/packaging/test/clean-root.sh" "$deb" "$work/static-true" > "$work/clean-root.log" 2>&1 ||
    status=$?
  grep -v '^debconf:' "$work/clean-root.log" || true
  [ "$status" = 0 ] || fail "clean root (status $status)"
  step "clean root: installed, ran, removed and purged in a debootstrap minbase root"
fi
step "PASS"
