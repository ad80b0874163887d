#!/usr/bin/env bash
# CI test of the packages (issue 9): builds the cordon and cordon-dev .deb and .rpm
# (scripts/package.sh), runs lintian, checks Depends/Built-Using and the rpm's requirements,
# file lists and %config(noreplace), installs the .debs on this machine (group cordon and
# /var/log/cordon created by the maintainer scripts), checks the installed unit
# (packaging/test/unit-checks.sh: no seccomp-based directive, the exact hardening,
# systemd-analyze verify and security), checks every man page renders without a warning and
# documents every option, runs the installed cordon against the installed profiles (also
# under cordon.service's hardening, packaging/test/unit-hardening.sh, where a plugin's
# violation must still be recorded), starts the daemon as the unit would (its ExecStart= with
# /etc/cordon/serve.env's arguments) and talks to it, checks who can read its audit log,
# builds a C++ host against cordon-dev, removes (only the conffile and /var/log/cordon may
# remain) and purges (nothing may remain); optionally repeats install, run, remove and purge
# in a clean debootstrap root (packaging/test/clean-root.sh), where only the declared Depends
# are installed and the whole file tree is compared; and upgrades a 0.1.0-1 .deb and .rpm to
# the new packages (packaging/test/upgrade.sh). Run as root:
#   sudo ./scripts/package-test.sh     # SKIP_BUILD=1 reuses build/packages/*;
#                                      # CLEAN_ROOT=1 adds the debootstrap part (needs the
#                                      # Debian mirror; the root is cached in /var/tmp)
# Leaves the machine as it found it (cordon not installed); refuses to run if a cordon package
# is already installed, since it would remove it. Deletes the group cordon first if it exists
# without members (left by an earlier install: Debian policy keeps it on purge), so that the
# test sees the package create it.
# No pipefail: several checks are `producer | grep -q`, where grep exiting at the first match
# may SIGPIPE the producer; commands whose status matters are captured first instead.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build/packages"
tests="$root/packaging/test"
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
step() { echo "package-test: $*"; }
# shellcheck source=packaging/test/lib.sh
. "$tests/lib.sh"

[ "$(id -u)" = 0 ] || fail "run as root (dpkg -i)"
for p in cordon cordon-dev; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed"; then
    fail "a $p package is already installed here; remove it first (dpkg -P cordon-dev cordon)"
  fi
done
[ ! -e /run/cordon ] || fail "/run/cordon exists: is a cordon daemon running here?"
[ ! -e /var/log/cordon ] ||
  fail "/var/log/cordon exists without a cordon package; the test must see the package create it (move it away)"
# The group: kept on purge (Debian policy), so an earlier install leaves it. Deleted here when
# nothing can depend on it (no members, nobody's primary group), so that the install below
# must create it; a group with members is the administrator's and is not touched.
if getent group cordon >/dev/null; then
  members="$(getent group cordon | cut -d: -f4)"
  gid="$(getent group cordon | cut -d: -f3)"
  primary="$(getent passwd | awk -F: -v g="$gid" '$4 == g {print $1}' | paste -sd, -)"
  [ -z "$members$primary" ] ||
    fail "group cordon has members ($members${primary:+, primary group of $primary}); the install test must create the group itself: remove them (gpasswd -d USER cordon) or run this on a clean machine"
  groupdel cordon || fail "groupdel cordon"
  step "deleted the group cordon (gid $gid, no members) left by an earlier install"
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  "$root/scripts/package.sh" >/dev/null
fi
deb="$(ls -1 "$out"/cordon_*.deb | tail -1)"
deb_dev="$(ls -1 "$out"/cordon-dev_*.deb | tail -1)"
rpmfile="$(ls -1 "$out"/cordon-[0-9]*.rpm | tail -1)"
rpm_dev="$(ls -1 "$out"/cordon-dev-[0-9]*.rpm | tail -1)"
[ -f "$deb" ] && [ -f "$deb_dev" ] && [ -f "$rpmfile" ] && [ -f "$rpm_dev" ] ||
  fail "packages missing in $out"
step "packages: $(basename "$deb") $(basename "$deb_dev") $(basename "$rpmfile") $(basename "$rpm_dev")"

work="$(mktemp -d /tmp/cordon-package-test.XXXXXX)"
serve_pid=
runbin=
cleanup() {
  if [ -n "$serve_pid" ]; then kill -TERM "$serve_pid" 2>/dev/null || true; wait "$serve_pid" || true; fi
  dpkg_wait dpkg -P cordon-dev cordon || true
  rm -rf "$work" /run/cordon ${runbin:+"$runbin"}
}
trap cleanup EXIT

# --- lintian: errors fail; every warning must be overridden (packaging/lintian-overrides,
# shipped as /usr/share/lintian/overrides/cordon, each with its reason).
# (--show-overrides would make overridden tags count for --fail-on, so it is not used.)
lintian --fail-on error,warning --display-info "$deb" "$deb_dev" > "$work/lintian" 2>&1 ||
  { cat "$work/lintian" >&2; fail "lintian reported errors or unaccepted warnings"; }
step "lintian (cordon, cordon-dev): no errors, no unaccepted warnings ($(grep -c '^cordon' "$root/packaging/lintian-overrides") accepted in packaging/lintian-overrides; info: $(grep '^I:' "$work/lintian" | cut -d' ' -f2,3 | sort -u | tr '\n' ' '))"

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
# Built-Using: the source package of every static archive the binary was linked with (the
# archives CMake chose, read from the package tree's link command) is named with its version.
built_using="$(dpkg-deb -f "$deb" Built-Using)"
[ -n "$built_using" ] || fail "the .deb has no Built-Using field (statically linked libraries)"
link_cmd="$(grep -A6 '^build launcher/cli/cordon:' "$root/build/package-tree/build.ninja" | grep LINK_LIBRARIES || true)"
[ -n "$link_cmd" ] || fail "cannot read the cordon link command from build/package-tree/build.ninja"
archives="$(echo "$link_cmd" | tr ' ' '\n' | grep '^/.*\.a$' | sort -u)
$(readlink -f "$(g++ -print-file-name=libstdc++.a)")"
for a in $archives; do
  owner="$(dpkg -S "$(readlink -f "$a")" 2>/dev/null | head -1 | cut -d: -f1)"
  [ -n "$owner" ] || fail "no package owns $a"
  src="$(dpkg-query -W -f='${source:Package} (= ${source:Version})' "$owner")"
  echo "$built_using" | tr ',' '\n' | sed 's/^ *//' | grep -qxF "$src" ||
    fail "Built-Using lacks '$src' (for $a): $built_using"
done
step "Built-Using: $built_using"
# The launcher package stays lean: no headers, archives or pkg-config files; cordon-dev has them.
if dpkg-deb -c "$deb" | grep -E '/usr/include/|\.a$|\.pc$'; then
  fail "the cordon .deb contains development files (they belong in cordon-dev)"
fi
mkdir -p "$work/deb-dev"
dpkg-deb -x "$deb_dev" "$work/deb-dev"
pc="$(find "$work/deb-dev" -name cordon-host.pc)"
[ -n "$pc" ] && [ -f "$work/deb-dev/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libcordon-host.a" ] ||
  fail "cordon-dev lacks cordon-host.pc or libcordon-host.a in the multiarch directory"
# cordon-dev's Depends: cordon of the same version, and the package providing every pkg-config
# module cordon-host.pc requires (Requires and Requires.private: a static link needs both).
dev_depends="$(dpkg-deb -f "$deb_dev" Depends)"
dev_names="$(echo "$dev_depends" | tr ',|' '\n\n' | awk '{print $1}')"
echo "$dev_depends" | grep -qF "cordon (= $(dpkg-deb -f "$deb" Version))" ||
  fail "cordon-dev does not depend on cordon of its own version: $dev_depends"
modules="$(sed -n 's/^Requires\(\.private\)\?://p' "$pc" | tr ',' '\n' | awk 'NF {print $1}' | sort -u)"
[ -n "$modules" ] || fail "no Requires in $pc"
dev_pkgs=""
for m in $modules; do
  mpc="$(pkg-config --variable=pcfiledir "$m" 2>/dev/null)/$m.pc"
  [ -f "$mpc" ] || fail "pkg-config module $m (required by cordon-host.pc) not found on the build machine"
  pkg="$(dpkg -S "$(readlink -f "$mpc")" 2>/dev/null | head -1 | cut -d: -f1)"
  [ -n "$pkg" ] || fail "no package owns $mpc"
  echo "$dev_names" | grep -qxF "$pkg" || fail "cordon-dev Depends lacks $pkg (for pkg-config $m): $dev_depends"
  dev_pkgs="$dev_pkgs $pkg"
done
step "cordon-dev Depends cover cordon-host.pc's $(echo $modules | wc -w) modules:$(echo $dev_pkgs | tr ' ' '\n' | sort -u | tr '\n' ' ')"

requires="$(rpm -qp --requires "$rpmfile" 2>/dev/null)" || fail "rpm -qp --requires failed"
# Every file with its flags: c = %config, n = noreplace (rpm -qcp lists plain %config too).
rpm_flags="$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpmfile" 2>/dev/null)" ||
  fail "rpm -qp --qf FILEFLAGS failed"
rpm_files="$(rpm -qlp "$rpmfile" 2>/dev/null)" || fail "rpm -qlp failed"
for lib in $needed; do
  echo "$requires" | grep -qF "$lib" || fail "rpm requires lack $lib"
done
if echo "$requires" | grep -E '^/(work|tmp|home)|build/' ; then
  fail "rpm requires refer to build-machine paths"
fi
rpm_config="$(echo "$rpm_flags" | awk '$2 ~ /c/ {print}')"
[ "$rpm_config" = "/etc/cordon/serve.env cn" ] ||
  fail "rpm %config files and flags: '$rpm_config' (want '/etc/cordon/serve.env cn': %config(noreplace) only)"
for f in /etc/cordon/profiles /var/lib/cordon/data /usr/lib/systemd/system/cordon.service; do
  echo "$rpm_files" | grep -qx "$f" || fail "rpm: $f missing"
done
if echo "$rpm_files" | grep -E '/usr/include/|\.a$|\.pc$'; then fail "the cordon .rpm contains development files"; fi
# The scriptlets' tools, as Requires(pre) / Requires(post) (rpm installs them first).
scriptreqs="$(rpm -qp --qf '[%{REQUIREFLAGS:deptype} %{REQUIRENAME}\n]' "$rpmfile" 2>/dev/null)"
echo "$scriptreqs" | grep -E '^pre .*groupadd' | grep -q systemd-sysusers ||
  fail "rpm lacks Requires(pre) on systemd-sysusers/groupadd: $scriptreqs"
echo "$scriptreqs" | grep -qE '^pre .*getent' || fail "rpm lacks Requires(pre) on getent"
echo "$scriptreqs" | grep -qE '^post .*systemd-tmpfiles' || fail "rpm lacks Requires(post) on systemd-tmpfiles"
rpm -qp --scripts "$rpmfile" 2>/dev/null | grep -q groupadd || fail "rpm %pre does not create the group"
# cordon-dev.rpm: the rpm libdir (lib64), not Debian's multiarch directory, and the pkgconfig()
# requirements of every module cordon-host.pc requires.
rpm_dev_files="$(rpm -qlp "$rpm_dev" 2>/dev/null)" || fail "rpm -qlp cordon-dev failed"
for f in /usr/lib64/libcordon-host.a /usr/lib64/pkgconfig/cordon-host.pc \
         /usr/include/cordon/launcher/host/loaded_plugin.h; do
  echo "$rpm_dev_files" | grep -qx "$f" || fail "cordon-dev.rpm: $f missing"
done
if echo "$rpm_files$rpm_dev_files" | grep -F -- "-linux-gnu"; then fail "an rpm uses Debian's multiarch directory"; fi
# Debian-only files stay out of the rpms (packaging/rpm-prune.cmake); the .deb has them.
if echo "$rpm_files
$rpm_dev_files" | grep -E '^/usr/share/lintian|changelog\.Debian'; then
  fail "an rpm ships Debian-only files (lintian overrides, changelog.Debian.gz)"
fi
dpkg-deb -c "$deb" | grep -q '/usr/share/lintian/overrides/cordon$' || fail "the .deb lost its lintian overrides"
rpm_dev_requires="$(rpm -qp --requires "$rpm_dev" 2>/dev/null)" || fail "rpm -qp --requires cordon-dev failed"
for m in $modules; do
  echo "$rpm_dev_requires" | grep -q "^pkgconfig($m)" || fail "cordon-dev.rpm does not require pkgconfig($m)"
done
echo "$rpm_dev_requires" | grep -qx "cordon = $(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$rpmfile" 2>/dev/null)" ||
  fail "cordon-dev.rpm does not require cordon of its own version"
step "dependencies: deb Depends and rpm Requires cover all $(echo $needed | wc -w) NEEDED libraries; rpm Requires(pre/post) for the scriptlets; cordon-dev.rpm in /usr/lib64 with pkgconfig() requirements; rpm: serve.env the only %config, flags 'cn' (noreplace); no Debian-only files"

# --- install (apt-get -f install pulls missing dependencies).
if ! dpkg_wait dpkg -i "$deb" "$deb_dev"; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=180 -f install -y -qq >/dev/null ||
    fail "apt-get -f install could not satisfy the .deb's dependencies"
fi
for p in cordon cordon-dev; do
  dpkg-query -W -f='${Status}' "$p" | grep -qx "install ok installed" || fail "dpkg -i $p failed"
done
dpkg -L cordon cordon-dev | sort -u > "$work/files"
[ "$(dpkg-query -W -f='${Conffiles}' cordon | awk '{print $1}')" = /etc/cordon/serve.env ] ||
  fail "conffiles: $(dpkg-query -W -f='${Conffiles}' cordon)"
for f in /usr/bin/cordon /usr/share/cordon/profiles/default.textproto \
         /usr/share/cordon/profiles/minimal.textproto /usr/share/cordon/profiles/fs-reader.textproto \
         /usr/share/cordon/profiles/net-client.textproto /etc/cordon/serve.env \
         /usr/share/doc/cordon/copyright /usr/share/doc/cordon-dev/copyright \
         /usr/lib/systemd/system/cordon.service; do
  [ -e "$f" ] || fail "$f not installed"
done
[ -d /etc/cordon/profiles ] || fail "/etc/cordon/profiles not installed"
[ -d /var/lib/cordon/data ] || fail "/var/lib/cordon/data (the fs-reader profile's host directory) not installed"
# The group did not exist before (deleted above), so systemd-sysusers in postinst made it,
# as a system group (sysusers.d/cordon.conf: "g cordon -").
getent group cordon >/dev/null || fail "postinst did not create group cordon"
cordon_gid="$(getent group cordon | cut -d: -f3)"
sys_gid_max="$(awk '$1 == "SYS_GID_MAX" {print $2}' /etc/login.defs)"
[ "$cordon_gid" -le "${sys_gid_max:-999}" ] || fail "group cordon (gid $cordon_gid) is not a system group"
[ "$(stat -c '%a %U %G' /var/log/cordon)" = "2750 root adm" ] ||
  fail "postinst made /var/log/cordon $(stat -c '%a %U %G' /var/log/cordon), want 2750 root adm (tmpfiles.d/cordon.conf)"
step "installed: $(wc -l < "$work/files") paths, conffile /etc/cordon/serve.env, /var/lib/cordon/data; postinst created the system group cordon (gid $cordon_gid) and /var/log/cordon 2750 root:adm"
"$tests/unit-checks.sh" /usr/lib/systemd/system/cordon.service || fail "the installed cordon.service (packaging/test/unit-checks.sh)"

# --- man pages: every page the package ships renders without a single groff warning (-ww:
# all warnings; undefined macros, bad fonts, unbreakable lines...), and lexgrog (what mandb
# uses for whatis/apropos) can parse its NAME section. A cordon-<sub>(1) page for each
# subcommand cordon(1) lists, and each page named in a SEE ALSO is shipped.
pages="$(grep '^/usr/share/man/.*\.gz$' "$work/files")"
[ -n "$pages" ] || fail "no man pages installed"
command -v groff >/dev/null && command -v lexgrog >/dev/null ||
  fail "groff and lexgrog are needed to check the man pages (apt-get install groff-base man-db)"
for page in $pages; do
  zcat "$page" | LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z > "$work/groff.log" 2>&1 ||
    { cat "$work/groff.log" >&2; fail "groff failed on $page"; }
  [ ! -s "$work/groff.log" ] || { cat "$work/groff.log" >&2; fail "groff warnings in $page"; }
  lexgrog "$page" > /dev/null 2>&1 || fail "lexgrog cannot parse the NAME section of $page"
  for ref in $(zcat "$page" | sed -n '/^\.SH SEE ALSO/,/^\.SH/p' | grep -o 'cordon[a-z\\-]*' | tr -d '\\' | sort -u); do
    ls /usr/share/man/man?/"$ref".?.gz >/dev/null 2>&1 || fail "$page refers to $ref, which is not shipped"
  done
done
for page in man1/cordon.1 man1/cordon-run.1 man1/cordon-call.1 man1/cordon-serve.1 \
            man1/cordon-profile.1 man1/cordon-audit.1 man5/cordon-profile.5; do
  [ -f "/usr/share/man/$page.gz" ] || fail "no man page /usr/share/man/$page.gz"
done
if zgrep -il "not part of this release" $pages; then fail "a man page still calls a command unreleased"; fi
# Every option (long or short) and every sub-subcommand the installed binary's help lists for
# a subcommand is documented in that subcommand's page: run, call, serve from their --help;
# profile from `cordon --help`'s profile lines, `cordon profile --help` and `cordon profile
# learn --help`; audit from `cordon audit --help`. A word counts when it stands alone in the
# page (--audit does not match --audit-log).
help_text() {
  case "$1" in
    profile)
      /usr/bin/cordon --help | grep -E '^ +profile '
      /usr/bin/cordon profile --help
      /usr/bin/cordon profile learn --help ;;
    *) /usr/bin/cordon "$1" --help ;;
  esac
}
documented=0
for sub in run call serve profile audit; do
  help="$(help_text "$sub")" || fail "cordon $sub --help exited $?"
  # The page's words without roff's font escapes (\fB, \fR, \f(CW...) and with plain dashes.
  page="$(zcat /usr/share/man/man1/cordon-$sub.1.gz | sed 's/\\f([A-Z][A-Z]//g; s/\\f[A-Z]//g; s/\\-/-/g')"
  words="$(echo "$help" | grep -oE '(^|[][ |,])--?[a-zA-Z][a-z0-9-]*' | sed 's/^[][ |,]//' | sort -u)"
  case "$sub" in
    profile) words="$words $(echo "$help" | sed -n 's/^ *\(usage: cordon \)\?profile \([a-z]\+\).*/\2/p' | sort -u)" ;;
    audit) words="$words $(echo "$help" | sed -n 's/^  \([a-z]\+\) .*/\1/p')" ;;
  esac
  [ -n "$(echo $words)" ] || fail "no options found in cordon $sub's help"
  for word in $words; do
    echo "$page" | grep -qE -- "(^|[^a-zA-Z0-9-])$word([^a-zA-Z0-9-]|\$)" ||
      fail "cordon $sub's help lists '$word', which cordon-$sub(1) does not document"
    documented=$((documented + 1))
  done
done
step "man pages: $(echo $pages | wc -w) render without warnings (groff -ww), lexgrog parses them, cordon-profile(5) shipped; all $documented options and commands of run/call/serve/profile/audit help documented in their pages"

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
# The compiled cache (seccomp programs, parsed profiles): root's own private directory, used by
# the second start.
[ "$(stat -c '%a %U' /var/cache/cordon)" = "700 root" ] ||
  fail "/var/cache/cordon is $(stat -c '%a %U' /var/cache/cordon 2>&1), want 700 root"
ls /var/cache/cordon/seccomp-* /var/cache/cordon/profile-* >/dev/null ||
  fail "no compiled seccomp program or profile in /var/cache/cordon"
grep -q '"seccomp_cached":true' /var/log/cordon/package-test.jsonl ||
  env -u CORDON_PROFILE_PATH /usr/bin/cordon run --profile minimal \
    --audit-log /var/log/cordon/package-test.jsonl -- "$work/static-true" ||
  fail "second cordon run --profile minimal exited $?"
grep -q '"seccomp_cached":true' /var/log/cordon/package-test.jsonl ||
  fail "the installed cordon did not use its compiled cache on a second start"
# A local profile in /etc/cordon/profiles is found before the shipped one.
sed 's/^name: "minimal"/name: "local-minimal"/' /usr/share/cordon/profiles/minimal.textproto \
  > /etc/cordon/profiles/minimal.textproto
shown="$(/usr/bin/cordon profile show minimal)" || fail "cordon profile show (local) exited $?"
echo "$shown" | head -1 | grep -q "'local-minimal' from /etc/cordon/profiles" ||
  fail "/etc/cordon/profiles does not override /usr/share/cordon/profiles"
rm /etc/cordon/profiles/minimal.textproto
man -w cordon-serve >/dev/null 2>&1 || fail "man -w cordon-serve: the installed page is not found"
# The fs-reader profile's broker bound: a plugin requesting fs.read /data loads only if the
# host directory (/var/lib/cordon/data, owned by the package) exists. The echo example plugin
# with that request added is the test plugin.
cmake --build "$root/build/package-tree" --target echo_plugin -j"${CORDON_JOBS:-2}" >/dev/null ||
  fail "building the echo example plugin failed"
cp -r "$root/build/package-tree/examples/cpp/echo_plugin" "$work/fs-bundle"
echo 'capabilities { kind: "fs.read" target: "/data" }' >> "$work/fs-bundle/manifest.textproto"
printf 'ping' > "$work/input"
got="$(env -u CORDON_PROFILE_PATH /usr/bin/cordon call --profile fs-reader --input "$work/input" \
  "$work/fs-bundle" echo)" || fail "cordon call --profile fs-reader (fs.read /data) exited $?"
[ "$got" = ping ] || fail "cordon call --profile fs-reader echo printed '$got'"
cd /
step "ran: cordon run -- /bin/echo ok; cordon run --profile minimal -- static true; audit verified; cordon call --profile fs-reader with fs.read /data granted"

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

# --- the same under cordon.service's hardening, emulated by packaging/test/unit-hardening.sh
# from the installed unit's settings. /tmp is private there, so test programs go to /run.
unit=/usr/lib/systemd/system/cordon.service
hardened() { "$tests/unit-hardening.sh" "$unit" "$@"; }
runbin="$(mktemp -d /run/cordon-package-test.XXXXXX)"
chmod 0755 "$runbin"
cp "$work/static-true" "$runbin/"
# First the emulation itself, seen from inside: it must be what the unit says (unit-checks.sh
# pinned the settings): bounding set SETUID, SETGID, SYS_PTRACE (bits 6, 7, 19), no_new_privs,
# umask 0027, gid cordon and no other group, writable only the private /tmp and /var/tmp, the
# ReadWritePaths, the RuntimeDirectory and the CacheDirectory, an empty /tmp, no /home or /root.
marker="$(mktemp /tmp/cordon-package-test-marker.XXXXXX)"
cat > "$work/probe.sh" <<'PROBE'
field() { sed -n "s/^$1:[[:space:]]*//p" /proc/self/status; }
echo "caps=$(field CapBnd) nnp=$(field NoNewPrivs) umask=$(field Umask) group=$(id -gn) groups=$(id -Gn)"
w=""
for d in / /usr /etc /var /var/lib /var/lib/cordon/data /var/log /var/log/cordon /var/cache /var/cache/cordon /run /run/cordon /tmp /var/tmp /srv /opt; do
  if [ -d "$d" ] && touch "$d/.cordon-probe" 2>/dev/null; then rm -f "$d/.cordon-probe"; w="$w $d"; fi
done
echo "writable=$w"
echo "tmp=$(ls -A /tmp | wc -l)"
for d in /home /root; do if ls "$d" >/dev/null 2>&1; then echo "readable $d"; fi; done
PROBE
probe="$(hardened /bin/sh -s < "$work/probe.sh")" || fail "the probe under the unit's hardening exited $?"
rm -f "$marker"
rm -rf /run/cordon
want="caps=00000000000800c0 nnp=1 umask=0027 group=cordon groups=cordon
writable= /var/log/cordon /var/cache/cordon /run/cordon /tmp /var/tmp
tmp=0"
[ "$probe" = "$want" ] || fail "under unit-hardening.sh the process sees
$probe
want
$want"
got="$(hardened /usr/bin/cordon run --memory 64M --pids 8 -- /bin/echo ok)" ||
  fail "cordon run under the unit's hardening exited $?"
[ "$got" = ok ] || fail "under the unit's hardening cordon run printed '$got'"
hardened /usr/bin/cordon run --profile minimal -- "$runbin/static-true" ||
  fail "minimal profile under the unit's hardening"
# The second start of the same profile takes its seccomp program from the CacheDirectory.
hardened /usr/bin/cordon run --profile minimal --audit-log /run/cordon/cache.jsonl -- "$runbin/static-true" ||
  fail "minimal profile under the unit's hardening (second start)"
grep -q '"seccomp_cached":true' /run/cordon/cache.jsonl ||
  fail "under the unit's hardening the compiled cache was not used: $(cat /run/cordon/cache.jsonl)"
step "ran under cordon.service's hardening (as the unit says: bounding set $(sed -n 's/^CapabilityBoundingSet=//p' "$unit"), NoNewPrivileges, UMask 0027, Group cordon, ProtectSystem=strict, ProtectHome, PrivateTmp; writable only /var/log/cordon, /var/cache/cordon, /run/cordon, private /tmp; compiled cache used)"

# --- a plugin's violation is cordon's to record under the unit. The probe calls
# socket(AF_NETLINK), refused by every profile: under the unit's hardening cordon's filter
# reports it, the audit log has the seccomp.violation and the probe gets the profile's EPERM.
# Then the same with the filter systemd installs for RestrictAddressFamilies= stacked under
# cordon (packaging/test/errno-filter.c): the kernel takes its SECCOMP_RET_ERRNO over cordon's
# SECCOMP_RET_USER_NOTIF, the probe gets systemd's EAFNOSUPPORT and no record is written. This
# is why the unit sets no seccomp-based directive (unit-checks.sh refuses them).
gcc -O2 -Wall -static -o "$runbin/netlink-probe" "$tests/netlink-probe.c" ||
  fail "building packaging/test/netlink-probe.c"
gcc -O2 -Wall -o "$runbin/errno-filter" "$tests/errno-filter.c" -lseccomp ||
  fail "building packaging/test/errno-filter.c (needs libseccomp-dev)"
violations() {
  /usr/bin/cordon audit query --type seccomp.violation --format json "$1" | grep -c '"syscall":"socket"' || true
}
log=/var/log/cordon/package-test-netlink.jsonl
got="$(hardened /usr/bin/cordon run --audit-log "$log" -- "$runbin/netlink-probe")" || true
[ "$got" = EPERM ] || fail "under the unit's hardening socket(AF_NETLINK) in the sandbox got '$got', want cordon's EPERM"
[ "$(violations "$log")" = 1 ] || fail "no seccomp.violation for socket in $log under the unit's hardening"
/usr/bin/cordon audit verify "$log" >/dev/null || fail "audit verify $log"
log=/var/log/cordon/package-test-netlink-systemd-filter.jsonl
got="$(hardened "$runbin/errno-filter" /usr/bin/cordon run --audit-log "$log" -- "$runbin/netlink-probe")" || true
[ "$got" = EAFNOSUPPORT ] ||
  fail "with a RestrictAddressFamilies-like filter under cordon the probe got '$got', want EAFNOSUPPORT (the demonstration no longer holds)"
[ "$(violations "$log")" = 0 ] || fail "a seccomp.violation was recorded although systemd's filter answered first"
/usr/bin/cordon audit query --type plugin.start --format json "$log" | grep -q plugin.start ||
  fail "no plugin.start in $log: the run under errno-filter did not happen"
rm -rf /run/cordon
step "seccomp: under the unit socket(AF_NETLINK) is cordon's (EPERM, seccomp.violation recorded); with a systemd RestrictAddressFamilies-like filter stacked under cordon it is not (EAFNOSUPPORT, no record)"

# --- the daemon as cordon.service starts it: the installed unit's ExecStart= with
# $CORDON_SERVE_ARGS from the installed /etc/cordon/serve.env, split at whitespace as systemd
# does, under the unit's hardening and Group=. It must create its control socket 0660 and group
# cordon in /run/cordon (root:cordon 0750, as RuntimeDirectory= makes it), answer a ping from
# a member of group cordon that is neither root nor the daemon's uid, refuse others at the
# file system, and stop cleanly on SIGTERM, removing the socket.
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
serve_args="$(env -i /bin/sh -c '. /etc/cordon/serve.env && printf "%s" "$CORDON_SERVE_ARGS"')" ||
  fail "cannot read CORDON_SERVE_ARGS from /etc/cordon/serve.env"
for want in "--socket-mode 0660" "--allow-gid cordon" "--audit-log /var/log/cordon/audit.jsonl"; do
  echo " $serve_args " | grep -qF -- " $want " || fail "serve.env's CORDON_SERVE_ARGS lacks '$want': $serve_args"
done
grep -qx 'EnvironmentFile=/etc/cordon/serve.env' "$unit" || fail "the unit does not read /etc/cordon/serve.env"
argv=()
set -f
for word in $exec_start; do
  if [ "$word" = '$CORDON_SERVE_ARGS' ]; then
    for a in $serve_args; do argv+=("$a"); done
  else
    argv+=("$word")
  fi
done
set +f
[ "${argv[0]}" = /usr/bin/cordon ] && [ "${argv[1]}" = serve ] || fail "unexpected ExecStart=$exec_start"
socket=""
for ((i = 0; i < ${#argv[@]} - 1; i++)); do
  if [ "${argv[i]}" = --control-socket ]; then socket="${argv[i+1]}"; fi
done
[ "$socket" = /run/cordon/control.sock ] || fail "ExecStart's control socket is '$socket'"
# The script itself, not the hardened() function: $! must be its pid, which passes SIGTERM on.
"$tests/unit-hardening.sh" "$unit" "${argv[@]}" > "$work/serve.log" 2>&1 &
serve_pid=$!
# Bounded poll for the socket (at most 10 s): the daemon has no readiness notification, and a
# daemon that exits early ends the wait at once.
for i in $(seq 200); do
  [ -S "$socket" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; fail "cordon serve exited before creating $socket"; }
  sleep 0.05
done
[ -S "$socket" ] || { cat "$work/serve.log" >&2; fail "no control socket $socket after 10 s"; }
[ "$(stat -c '%a %U %G' /run/cordon)" = "750 root cordon" ] || fail "/run/cordon is $(stat -c '%a %U %G' /run/cordon)"
[ "$(stat -c '%a %G' "$socket")" = "660 cordon" ] ||
  fail "control socket is $(stat -c '%a %G' "$socket"), want 660 group cordon"
# A ControlRequest{id: 1, ping: {}} (field 1 varint, field 16 empty message), one datagram;
# the ControlPingResponse (field 16 of ControlResponse) carries the version and the peer's
# uid/gid as the daemon saw them.
cat > "$work/ping.py" <<'PING'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("EACCES")
    sys.exit(0)
s.send(bytes([0x08, 0x01, 0x82, 0x01, 0x00]))
reply = s.recv(1 << 20)
print(reply.hex())
PING
nobody="$(id -u nobody)"
# The script comes on standard input, opened here: $work is not readable by nobody.
reply="$(setpriv --reuid "$nobody" --regid cordon --clear-groups /usr/bin/python3 - "$socket" \
  < "$work/ping.py")" ||
  fail "ping as uid $nobody, group cordon failed"
# id 1, then field 16 (0x82 0x01) holding field 1, the version string "0.1.0".
version_hex="$(printf '%s' "$(/usr/bin/cordon version | awk '{print $2}')" | od -An -tx1 | tr -d ' \n')"
case "$reply" in
  08018201*"$version_hex"*) ;;
  *) cat "$work/serve.log" >&2; fail "no ping response from cordon serve for a cordon group member: '$reply'" ;;
esac
other="$(setpriv --reuid "$nobody" --regid "$(getent group nogroup | cut -d: -f3)" --clear-groups \
  /usr/bin/python3 - "$socket" < "$work/ping.py")" || fail "connect as uid $nobody, group nogroup failed oddly"
[ "$other" = EACCES ] || fail "a user outside group cordon could connect to the control socket: '$other'"
kill -TERM "$serve_pid"
status=0
wait "$serve_pid" || status=$?
serve_pid=
[ "$status" = 0 ] || { cat "$work/serve.log" >&2; fail "cordon serve exited $status on SIGTERM"; }
[ ! -e "$socket" ] || fail "cordon serve left $socket behind"
/usr/bin/cordon audit verify /var/log/cordon/audit.jsonl >/dev/null || fail "audit verify of the daemon's log"
rm -rf /run/cordon
# Who may read the daemon's log (written with the unit's Group=cordon and UMask=0027 into the
# set-group-id /var/log/cordon): root:adm 0640, so members of adm (administrators) may, and
# members of cordon (the socket's clients, who must not see each other's records) may not.
[ "$(stat -c '%a %U %G' /var/log/cordon/audit.jsonl)" = "640 root adm" ] ||
  fail "the daemon's audit log is $(stat -c '%a %U %G' /var/log/cordon/audit.jsonl), want 640 root adm"
setpriv --reuid "$nobody" --regid adm --clear-groups head -c1 /var/log/cordon/audit.jsonl >/dev/null ||
  fail "a member of adm cannot read the daemon's audit log"
if setpriv --reuid "$nobody" --regid cordon --clear-groups head -c1 /var/log/cordon/audit.jsonl >/dev/null 2>&1; then
  fail "a member of cordon (not adm) can read the daemon's audit log"
fi
step "serve: ExecStart + serve.env ($serve_args) under the unit's hardening; socket 660 root:cordon; ping answered for a group member, others refused (EACCES); stopped cleanly on SIGTERM; audit log 640 root:adm, readable by adm, not by cordon"

# --- remove: exactly the conffile (with /etc/cordon) and the audit logs in /var/log/cordon
# remain (logs survive removal, debian/postrm deletes them on purge); every other path of
# either package is gone, including /var/lib/cordon/data and /etc/cordon/profiles.
ls /var/log/cordon/*.jsonl >/dev/null 2>&1 || fail "no audit log in /var/log/cordon to keep"
dpkg_wait dpkg -r cordon-dev cordon || fail "dpkg -r failed"
dpkg-query -W -f='${Status}' cordon | grep -qx "deinstall ok config-files" ||
  fail "after dpkg -r: status $(dpkg-query -W -f='${Status}' cordon)"
left="$( (find /etc/cordon /var/log/cordon /var/lib/cordon /var/cache/cordon /usr/share/cordon /usr/include/cordon \
           /usr/share/doc/cordon /usr/share/doc/cordon-dev 2>/dev/null
          while read -r path; do [ -e "$path" ] && ! [ -d "$path" ] && echo "$path"; done < "$work/files"
          while read -r path; do [ -d "$path" ] && [[ "$path" == *cordon* ]] && echo "$path"; done < "$work/files"
        ) | sort -u | grep -vE '^/var/log/cordon/[^/]+$' | tr '\n' ' ')" || true
[ "$left" = "/etc/cordon /etc/cordon/serve.env /var/log/cordon " ] ||
  fail "after dpkg -r expected exactly /etc/cordon/serve.env and /var/log/cordon (with its logs), found: $left"
step "remove: only /etc/cordon/serve.env and /var/log/cordon ($(ls /var/log/cordon | wc -l) logs) left"

# --- purge: nothing left (the group stays, as Debian policy wants).
dpkg_wait dpkg -P cordon-dev cordon || fail "dpkg -P failed"
while read -r path; do
  if [[ "$path" == *cordon* ]] && [ -e "$path" ]; then fail "left behind after purge: $path"; fi
done < "$work/files"
for path in /etc/cordon /var/log/cordon /var/lib/cordon /var/cache/cordon /usr/share/cordon /usr/share/doc/cordon \
            /usr/share/doc/cordon-dev /usr/include/cordon; do
  [ ! -e "$path" ] || fail "left behind after purge: $path"
done
for p in cordon cordon-dev; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qE "install ok installed|config-files"; then
    fail "dpkg still lists $p after purge: $(dpkg-query -W -f='${Status}' "$p")"
  fi
done
step "purge: nothing left (group 'cordon' kept by policy)"

if [ "${CLEAN_ROOT:-0}" = 1 ]; then
  status=0
  "$tests/clean-root.sh" "$deb" "$work/static-true" > "$work/clean-root.log" 2>&1 || status=$?
  grep -v '^debconf:' "$work/clean-root.log" || true
  [ "$status" = 0 ] || fail "clean root (status $status)"
  step "clean root: installed, ran, removed and purged in a debootstrap minbase root"
fi

# --- upgrades from 0.1.0-1, .deb on this machine and .rpm in test roots (after the clean
# root, whose cached debootstrap root lets the rpm scriptlets run).
"$tests/upgrade.sh" "$root/build/package-tree" "$deb" "$rpmfile" "$work" || fail "upgrade (packaging/test/upgrade.sh)"
step "PASS"
