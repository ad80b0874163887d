#!/usr/bin/env bash
# Builds and tests cordon's Go code (sdk/go, examples/go, bench/go) offline against Debian's
# packaged Go sources, after regenerating the protobuf code (warns when the committed copy was
# stale; CORDON_GO_STRICT_GENERATED=1 makes that an error). The Go tests
# start a real `cordon serve` from $CORDON_BUILD_DIR (default: build/), so build the C++ side
# first: cmake --build build --target cordon serve_demo_plugin. The Go host example's case with
# the Rust plugin (TestWalkThroughRustPlugin) needs the Rust bundle, so it runs from
# scripts/rust-test.sh (ctest rust_sdk) and is skipped here unless CORDON_WORDCOUNT_BUNDLE names
# one (examples/rust/build-bundle.sh builds it). Extra arguments go to `go test` (e.g. -run X).
set -euo pipefail
source "$(dirname "$0")/go-env.sh"
cd "$root"
before="$(cat sdk/go/cordonpb/*.pb.go | sha256sum)"
scripts/go-generate.sh
after="$(cat sdk/go/cordonpb/*.pb.go | sha256sum)"
if [ "$before" != "$after" ]; then
  # A .proto changed without a regeneration: test against the fresh code, and say so (fail
  # only when asked to, so a proto change elsewhere never blocks CI by itself).
  echo "go-test: WARNING: sdk/go/cordonpb was stale and has been regenerated; commit it" >&2
  [ "${CORDON_GO_STRICT_GENERATED:-0}" = 1 ] && exit 1
fi
cd "$gopath/src/cordon.dev"
unformatted="$(gofmt -l sdk/go/ examples/go/ bench/go/ 2>/dev/null | grep -v '\.pb\.go$' || true)"
if [ -n "$unformatted" ]; then
  echo "go-test: not gofmt-formatted: $unformatted" >&2
  exit 1
fi
pkgs=(cordon.dev/sdk/go/cordon cordon.dev/sdk/go/cordonpb)
for d in examples/go/*/ bench/go/*/; do
  [ -d "$d" ] && ls "$d"*.go >/dev/null 2>&1 && pkgs+=("cordon.dev/${d%/}")
done
go vet "${pkgs[@]}"
go build "${pkgs[@]}"
go test -count=1 "$@" "${pkgs[@]}"
