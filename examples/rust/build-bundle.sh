#!/usr/bin/env bash
# Builds the Rust example plugin (examples/rust/wordcount) in release mode with Debian's cargo,
# offline against /usr/share/cargo/registry, and assembles its bundle (manifest.textproto +
# binary) in BUILD_DIR/examples/rust/wordcount. scripts/rust-test.sh calls it; so can you.
#
#   examples/rust/build-bundle.sh [BUILD_DIR]      BUILD_DIR: the CMake build tree (default: build)
#
# Exit status: 0 built; 1 the build failed; 77 no Debian cargo/rustc (scripts/install-deps.sh
# installs them). Cargo output goes to BUILD_DIR/rust. CARGO / RUSTC / RUSTDOC override the
# Debian toolchain (given explicitly so a rustup toolchain earlier in PATH does not shadow it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-build}"
case "$build" in -*) echo "$(basename "$0"): usage: $(basename "$0") [BUILD_DIR] (got option '$build')" >&2; exit 2 ;; esac
case "$build" in /*) ;; *) build="$root/$build" ;; esac

source "$root/scripts/rust-env.sh"
for tool in "$CARGO" "$RUSTC"; do
  if [ ! -x "$tool" ]; then
    echo "build-bundle: $tool not found; run scripts/install-deps.sh (Debian's cargo and rustc)" >&2
    exit 77
  fi
done
if [ ! -d /usr/share/cargo/registry ]; then
  echo "build-bundle: /usr/share/cargo/registry is missing; run scripts/install-deps.sh (librust-prost-dev ...)" >&2
  exit 77
fi

# From the crate's directory, so its .cargo/config.toml (the Debian source replacement) applies.
# Cargo locks the target directory, so concurrent callers build once, one after the other.
(cd "$root/examples/rust/wordcount" && "$CARGO" build --offline --release) || exit 1

bundle="$build/examples/rust/wordcount"
mkdir -p "$bundle"
# Copy, then rename over the old file: a sandbox may be executing the old binary right now
# (cp onto it would fail with ETXTBSY) and a loader must never see a half-written one.
install_atomically() {
  local tmp
  tmp="$(mktemp "$2.XXXXXX")"
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
}
install_atomically "$root/examples/rust/wordcount/manifest.textproto" "$bundle/manifest.textproto" 0644
install_atomically "$CARGO_TARGET_DIR/release/wordcount" "$bundle/wordcount" 0755
echo "build-bundle: $bundle (manifest.textproto, wordcount)"
