#!/usr/bin/env bash
# Installs every Debian 12 package cordon needs to build, test, benchmark and package.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: run as root (apt-get needs it)" >&2
  exit 1
fi
packages=(
  build-essential cmake ninja-build ccache pkg-config git lld
  libseccomp-dev seccomp libcap-dev libprotobuf-dev protobuf-compiler libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
  clang libclang-rt-14-dev clang-format
  bubblewrap util-linux uidmap iproute2 procps python3
  golang-go protoc-gen-go golang-google-protobuf-dev golang-golang-x-sys-dev
  golang-google-grpc-dev golang-github-hashicorp-go-plugin-dev
  rpm lintian linux-perf debootstrap groff-base man-db e2fsprogs systemd
)
# Rust plugin crate (sdk/rust): Debian's toolchain and crates, built offline (docs/rust.md).
packages+=(cargo rustc librust-prost-dev librust-prost-build-dev librust-libc-dev librust-bytes-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
