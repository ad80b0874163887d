#!/usr/bin/env bash
# Regenerates the Go protobuf code in sdk/go/cordonpb from the cordon.v1 .proto files with
# Debian's protoc + protoc-gen-go. The output is committed so `go build` never needs protoc,
# and scripts/go-test.sh re-runs this and fails when the committed code is stale.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pkg=cordon.dev/sdk/go/cordonpb
protos=(common broker envelope manifest control)
mflags=()
for p in "${protos[@]}"; do mflags+=("--go_opt=Mcordon/v1/$p.proto=$pkg"); done
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
files=()
for p in "${protos[@]}"; do files+=("$root/ipc/proto/cordon/v1/$p.proto"); done
protoc -I"$root/ipc/proto" --go_out="$out" --go_opt=paths=source_relative "${mflags[@]}" "${files[@]}"
mkdir -p "$root/sdk/go/cordonpb"
for p in "${protos[@]}"; do cp "$out/cordon/v1/$p.pb.go" "$root/sdk/go/cordonpb/$p.pb.go"; done
