# Sourced by the Rust scripts (scripts/rust-test.sh, examples/rust/build-bundle.sh) after they
# set $build (an absolute build directory): Debian's toolchain, given explicitly so a rustup
# toolchain earlier in PATH does not shadow it, and the build tree as cargo's target directory.
export CARGO="${CARGO:-/usr/bin/cargo}"
export RUSTC="${RUSTC:-/usr/bin/rustc}"
export RUSTDOC="${RUSTDOC:-/usr/bin/rustdoc}"
export CARGO_TARGET_DIR="$build/rust"
export CARGO_TERM_COLOR=never
