#!/usr/bin/env bash
# Where cordon's start-up time goes, part 2: relinks the already built cordon binary (same
# object files, same flags) against static archives instead of shared libraries, and times
# `cordon run` of each variant against bwrap, interleaved (docs/performance-sandbox.md).
#   sudo bench/sandbox/static_link_experiment.sh [ROUNDS]     # default 150
# Variants: as built (37 shared objects); absl+protobuf+libseccomp static; additionally
# libcrypto, libcap, libstdc++ and libgcc static (only libc, libm shared). Debian ships all
# these .a files (libabsl-dev, libprotobuf-dev, libseccomp-dev, libssl-dev, libcap-dev).
# Changes nothing in the tree: the variants are written to a temporary directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-$root/build}"
rounds="${1:-150}"
work="$(mktemp -d /tmp/cordon-static-link.XXXXXX)"
trap 'rm -rf "$work"' EXIT

link="$(cd "$build" && ninja -t commands launcher/cli/cordon | tail -1)"
[[ "$link" == *"-o launcher/cli/cordon"* ]] || { echo "no link command for cordon in $build" >&2; exit 1; }
lib=/usr/lib/x86_64-linux-gnu
static1="$(echo "$link" | sed -e "s#-o launcher/cli/cordon#-o $work/cordon-static-deps#" \
  -e 's#\(libabsl_[a-z_0-9]*\)\.so\.[0-9.]*#\1.a#g' \
  -e "s#$lib/libprotobuf\.so#$lib/libprotobuf.a#" -e "s#$lib/libseccomp\.so#$lib/libseccomp.a#" \
  -e 's#audit/libcordon_audit.a#audit/libcordon_audit.a -Wl,--start-group#' \
  -e 's#\(libabsl_time_zone.a\)#\1 -Wl,--end-group -lz#')"
static2="$(echo "$static1" | sed -e "s#$work/cordon-static-deps#$work/cordon-static-all#" \
  -e "s#$lib/libcrypto\.so#$lib/libcrypto.a#" -e "s#$lib/libcap\.so#$lib/libcap.a#" \
  -e 's#-lz#-lz -static-libstdc++ -static-libgcc#')"
(cd "$build" && eval "$static1" && eval "$static2") 2>&1 | grep -v "statically linked applications requires at runtime" || true

gcc -O2 -static -o "$work/cordon-bench-true" "$here/true.c"
gcc -O2 -Wall -Wextra -Werror -o "$work/startup_driver" "$here/startup_driver.c"
profile="$here/noquota.textproto"
bwrap_args="--unshare-all --die-with-parent --new-session --cap-drop ALL --uid 1000 --gid 1000
  --hostname cordon --clearenv --setenv HOME /tmp --tmpfs / --proc /proc --dev /dev
  --size 4194304 --tmpfs /tmp --chdir / --ro-bind $work/cordon-bench-true /true /true"
echo "shared objects loaded: as built $(ldd "$build/launcher/cli/cordon" | wc -l)," \
  "static deps $(ldd "$work/cordon-static-deps" | wc -l), static all $(ldd "$work/cordon-static-all" | wc -l)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
cat > "$work/list" <<LIST
bwrap (no seccomp)	$(command -v bwrap) $(echo $bwrap_args)
cordon as built (shared)	$build/launcher/cli/cordon run --profile $profile -- $work/cordon-bench-true
cordon absl+protobuf+seccomp .a	$work/cordon-static-deps run --profile $profile -- $work/cordon-bench-true
cordon all but libc .a	$work/cordon-static-all run --profile $profile -- $work/cordon-bench-true
cordon version (shared)	$build/launcher/cli/cordon version
cordon version (all but libc .a)	$work/cordon-static-all version
LIST
"$work/startup_driver" "$rounds" 10 "$work/list" | grep -v '^csv,'
echo
echo "CPU time per run (perf stat -r 40 task-clock, msec):"
for variant in "bwrap:$(command -v bwrap) $(echo $bwrap_args)" \
    "shared:$build/launcher/cli/cordon run --profile $profile -- $work/cordon-bench-true" \
    "static-deps:$work/cordon-static-deps run --profile $profile -- $work/cordon-bench-true" \
    "static-all:$work/cordon-static-all run --profile $profile -- $work/cordon-bench-true"; do
  name="${variant%%:*}"
  # shellcheck disable=SC2086
  ms="$(perf stat -r 40 -x, -e task-clock ${variant#*:} 2>&1 >/dev/null | awk -F, '/task-clock/{print $1}')"
  printf '  %-12s %s\n' "$name" "$ms"
done
