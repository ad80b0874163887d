# Sourced by the Go scripts: an offline GOPATH build over Debian's packaged Go sources.
# Debian's golang-*-dev packages install sources under /usr/share/gocode/src; GOPATH mode
# (GO111MODULE=off, still supported by Go 1.19) resolves every import there with no module
# proxy and no network. cordon's own Go code is linked into a private GOPATH under the build
# dir as cordon.dev/{sdk,examples,bench}/go.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORDON_BUILD_DIR="${CORDON_BUILD_DIR:-$root/build}"
gopath="$CORDON_BUILD_DIR/go/gopath"
mkdir -p "$gopath/src/cordon.dev/sdk" "$gopath/src/cordon.dev/examples" "$gopath/src/cordon.dev/bench"
for d in sdk examples bench; do
  ln -sfn "$root/$d/go" "$gopath/src/cordon.dev/$d/go"
done
export GOPATH="$gopath:/usr/share/gocode"
export GO111MODULE=off
export GOFLAGS=
export GOPROXY=off
export GOTOOLCHAIN=local
export GOCACHE="${GOCACHE:-$CORDON_BUILD_DIR/go/cache}"
export CGO_ENABLED=0
export CORDON_BUILD_DIR
