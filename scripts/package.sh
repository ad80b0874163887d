#!/usr/bin/env bash
# Builds the cordon and cordon-dev .deb and .rpm packages into build/packages/ with CPack
# (packaging/CPackConfig.cmake).
#   ./scripts/package.sh            # both
#   ./scripts/package.sh DEB        # or RPM: one generator
# The package build uses its own build tree (build/package-tree): prefix /usr (so conffiles
# go to /etc), and Debian's hardening flags from dpkg-buildflags when available.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
generators="${1:-DEB;RPM}"
tree="$root/build/package-tree"
out="$root/build/packages"
jobs="${CORDON_JOBS:-2}"

if command -v dpkg-buildflags >/dev/null 2>&1; then
  # PIE, full RELRO, BIND_NOW, fortify, stack protector: what lintian checks for.
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
  # _FORTIFY_SOURCE marks e.g. ftruncate warn_unused_result, which GCC reports even through a
  # (void) cast; keep it a warning so that -Werror does not fail the package build on it.
  export CFLAGS="$CFLAGS $CPPFLAGS -Wno-error=unused-result"
  export CXXFLAGS="$CXXFLAGS $CPPFLAGS -Wno-error=unused-result"
fi

# The library directory differs: Debian's multiarch directory for the .deb, lib64 for the .rpm
# (where Fedora and SUSE look for libraries and pkg-config files). Only install paths depend on
# it, so the tree is reconfigured per generator and nothing is recompiled.
multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
mkdir -p "$out"
rm -f "$out"/cordon*.deb "$out"/cordon*.rpm "$out"/cordon*.sha256
for generator in ${generators//;/ }; do
  case "$generator" in
    DEB) libdir="lib/$multiarch" ;;
    RPM) libdir=lib64 ;;
    *) echo "package.sh: unknown generator '$generator' (DEB or RPM)" >&2; exit 2 ;;
  esac
  # Flags passed explicitly (not only via the environment) so that a reconfigure picks them up.
  cmake -S "$root" -B "$tree" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr \
    -DCMAKE_INSTALL_LIBDIR="$libdir" -DCORDON_LLD=OFF \
    -DCMAKE_C_FLAGS="${CFLAGS:-}" -DCMAKE_CXX_FLAGS="${CXXFLAGS:-}" \
    -DCMAKE_EXE_LINKER_FLAGS="${LDFLAGS:-}" >/dev/null
  # Only what the packages contain: the binary, the host library and the generated man
  # pages/changelog.
  cmake --build "$tree" --target cordon cordon_packaging_files cordon_host_bundle -j"$jobs"
  (cd "$tree" && cpack -G "$generator" -B "$out" >/dev/null)
done
rm -rf "$out/_CPack_Packages"
ls -1 "$out"/cordon*.deb "$out"/cordon*.rpm 2>/dev/null
