#!/usr/bin/env bash
# Sandbox start-up and seccomp round-trip benchmarks (docs/performance-sandbox.md).
#   sudo bench/sandbox/run.sh [ROUNDS]        # default 200 rounds per command
# Env: CORDON=path/to/cordon (default build/launcher/cli/cordon), WARMUP (default 10),
#      CORDON_BASELINE=path/to/another/cordon (adds its two start-up lines to the same run,
#      for before/after comparisons),
#      LOOP_ALLOWED / LOOP_DENIED (calls per syscall_loop run), REPEATS (syscall_loop runs).
# Needs: gcc, libseccomp-dev, bubblewrap, util-linux (unshare); run as root like CI.
# Standalone: compiles its helpers with gcc into a temporary directory, no CMake involved.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rounds="${1:-200}"
warmup="${WARMUP:-10}"
loop_allowed="${LOOP_ALLOWED:-200000}"
loop_denied="${LOOP_DENIED:-5000}"
repeats="${REPEATS:-5}"
cordon="${CORDON:-$root/build/launcher/cli/cordon}"
[ -x "$cordon" ] || { echo "run.sh: $cordon not built (cmake --build build --target cordon)" >&2; exit 1; }
command -v bwrap >/dev/null || { echo "run.sh: bwrap missing (apt-get install bubblewrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || echo "run.sh: not root: cordon runs rootless (rlimits, no cgroup)" >&2

work="$(mktemp -d /tmp/cordon-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# A distinctive name: plugin cgroups are named after the program, and other cordon runs on a
# shared machine must not be mistaken for leftovers of this one.
gcc -O2 -static -o "$work/cordon-bench-true" "$here/true.c"
gcc -O2 -static -o "$work/syscall_loop" "$here/syscall_loop.c"
gcc -O2 -Wall -Wextra -Werror -o "$work/startup_driver" "$here/startup_driver.c"
gcc -O2 -Wall -Wextra -Werror -o "$work/gen_bpf" "$here/gen_bpf.c" -lseccomp
gcc -O2 -Wall -Wextra -Werror -o "$work/unotify_pingpong" "$here/unotify_pingpong.c"
gcc -O2 -Wall -Wextra -Werror -o "$work/cgroup_wrap" "$here/cgroup_wrap.c"

# bwrap's seccomp filter: exactly the syscalls cordon's minimal profile allows.
"$cordon" profile show minimal |
  awk '/^#   group /{f=1} /^#$/{f=0} f' | sed 's/^#   group [^:]*://; s/^#//' |
  tr ' ' '\n' | grep -v '^$' | sort -u > "$work/allowlist"
# bwrap applies its filter to its own pid-1 init too, which reaps with wait4; cordon's init is
# not under the plugin's filter. Without this bwrap fails with "init wait(): EPERM".
echo wait4 >> "$work/allowlist"
"$work/gen_bpf" < "$work/allowlist" > "$work/filter.bpf"

# bwrap with the filter on fd 9, reopened for every run (bwrap reads it to the end).
printf '#!/bin/sh\nexec 9<"%s"\nexec bwrap --seccomp 9 "$@"\n' "$work/filter.bpf" > "$work/bwrap-seccomp"
chmod +x "$work/bwrap-seccomp"

noquota="$here/noquota.textproto"
bwrap_args="--unshare-all --die-with-parent --new-session --cap-drop ALL --uid 1000 --gid 1000
  --hostname cordon --clearenv --setenv HOME /tmp --tmpfs / --proc /proc --dev /dev
  --size 4194304 --tmpfs /tmp --chdir /"
bwrap_args="$(echo $bwrap_args)"

echo "== machine"
echo "kernel $(uname -r), $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cordon: $cordon ($("$cordon" version)); $(bwrap --version); $(unshare --version)"
echo "cgroup mounts: $(awk '$3=="cgroup"||$3=="cgroup2"{printf "%s(%s) ", $2, $3}' /proc/mounts)"

cgroup_dirs() {
  find /sys/fs/cgroup -maxdepth 8 -type d -path '*/cordon/*-cordon-bench-true' 2>/dev/null | sort
}
cgroups_before="$(cgroup_dirs)"

echo
echo "== start-up: fork+exec+wait of a static 'true', $rounds interleaved rounds, $warmup warm-up"
cat > "$work/startup.list" <<LIST
bwrap (seccomp, minimal allowlist)	$(command -v bwrap) $bwrap_args --ro-bind $work/cordon-bench-true /true --seccomp 9 FD9<$work/filter.bpf /true
cordon run --profile noquota	$cordon run --profile $noquota -- $work/cordon-bench-true
bwrap + minimal's cgroup quotas	$work/cgroup_wrap 134217728 8 -- $(command -v bwrap) $bwrap_args --ro-bind $work/cordon-bench-true /true --seccomp 9 FD9<$work/filter.bpf /true
cordon run --profile minimal	$cordon run --profile minimal -- $work/cordon-bench-true
cordon noquota --memory --pids	$cordon run --profile $noquota --memory 128M --pids 8 -- $work/cordon-bench-true
bwrap (no seccomp)	$(command -v bwrap) $bwrap_args --ro-bind $work/cordon-bench-true /true /true
unshare -Urpfmniu	$(command -v unshare) -Urpfmniu $work/cordon-bench-true
direct exec	$work/cordon-bench-true
LIST
if [ -n "${CORDON_BASELINE:-}" ]; then
  # Profiles by path: a copied binary does not find the source tree's profiles by name.
  cat >> "$work/startup.list" <<LIST
baseline run --profile noquota	$CORDON_BASELINE run --profile $noquota -- $work/cordon-bench-true
baseline run --profile minimal	$CORDON_BASELINE run --profile $root/sandbox-profiles/profiles/minimal.textproto -- $work/cordon-bench-true
LIST
fi
"$work/startup_driver" "$rounds" "$warmup" "$work/startup.list" | tee "$work/startup.out" | grep -v '^csv,'

cgroups_after="$(cgroup_dirs)"
if [ "$cgroups_before" != "$cgroups_after" ]; then
  echo "run.sh: plugin cgroups left behind:" >&2
  diff <(echo "$cgroups_before") <(echo "$cgroups_after") >&2 || true
  exit 1
fi
echo "(no plugin cgroup left behind after $((rounds + warmup)) runs with quotas)"

# CPU time (user+sys of the whole process tree) is far less sensitive to a busy machine than
# wall time, so it separates work done from time spent waiting for a CPU.
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  echo
  echo "== CPU time per start-up (perf stat -r $((rounds / 2)) -e task-clock,context-switches)"
  printf '%-34s %12s %10s\n' "command" "cpu_ms" "ctx_sw"
  while IFS=$'\t' read -r label cmd; do
    [ -n "$label" ] || continue
    cmd="${cmd//FD9<*/}"
    # stdin from /dev/null: cordon relays its stdin to the program and would eat this list.
    # shellcheck disable=SC2086
    perf stat -r "$((rounds / 2))" -x, -e task-clock,context-switches $cmd \
      2>"$work/perf.csv" >/dev/null 9<"$work/filter.bpf" </dev/null || true
    printf '%-34s %12s %10s\n' "$label" \
      "$(awk -F, '/task-clock/{printf "%.2f", $1}' "$work/perf.csv")" \
      "$(awk -F, '/context-switches/{printf "%.0f", $1}' "$work/perf.csv")"
  done < <(grep -v -e '^direct' -e 'FD9<' "$work/startup.list")
fi

# Median of REPEATS runs of syscall_loop; prints ns/call.
loop_median() {
  local -a values=()
  for _ in $(seq "$repeats"); do
    values+=("$("$@" | awk '{print $(NF-1)}')")
  done
  printf '%s\n' "${values[@]}" | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'
}

echo
echo "== seccomp: cost per system call inside the sandbox (median of $repeats runs)"
audit="$work/audit.jsonl"
host_allowed="$(loop_median "$work/syscall_loop" allowed "$loop_allowed")"
bwrap_allowed="$(loop_median "$work/bwrap-seccomp" $bwrap_args --ro-bind "$work/syscall_loop" /l /l allowed "$loop_allowed")"
bwrap_denied="$(loop_median "$work/bwrap-seccomp" $bwrap_args --ro-bind "$work/syscall_loop" /l /l denied "$loop_allowed")"
cordon_allowed="$(loop_median "$cordon" run --profile "$noquota" -- "$work/syscall_loop" allowed "$loop_allowed")"
cordon_denied="$(loop_median "$cordon" run --profile "$noquota" -- "$work/syscall_loop" denied "$loop_denied" 2>/dev/null)"
rm -f "$audit"
cordon_denied_audit="$(loop_median "$cordon" run --profile "$noquota" --audit-log "$audit" -- "$work/syscall_loop" denied "$loop_denied" 2>/dev/null)"
floor="$(loop_median "$work/unotify_pingpong" "$loop_denied")"
records="$(grep -c '"type":"seccomp.violation"' "$audit")"
"$cordon" audit verify "$audit" >/dev/null
printf '%-58s %12s\n' "case" "ns/call"
printf '%-58s %12s\n' "getppid, host, no seccomp" "$host_allowed"
printf '%-58s %12s\n' "getppid, bwrap seccomp (allowed by filter)" "$bwrap_allowed"
printf '%-58s %12s\n' "setuid, bwrap seccomp (EPERM in the kernel)" "$bwrap_denied"
printf '%-58s %12s\n' "getppid, cordon (allowed by filter)" "$cordon_allowed"
printf '%-58s %12s\n' "setuid, cordon (user notif -> launcher -> EPERM)" "$cordon_denied"
printf '%-58s %12s\n' "setuid, cordon --audit-log (+ seccomp.violation record)" "$cordon_denied_audit"
printf '%-58s %12s\n' "setuid, bare unotify round trip (no cordon; floor)" "$floor"
echo "denied/allowed ratio in cordon: $(awk -v d="$cordon_denied" -v a="$cordon_allowed" 'BEGIN{printf "%.0f", d/a}')x;" \
  "with audit: $(awk -v d="$cordon_denied_audit" -v a="$cordon_allowed" 'BEGIN{printf "%.0f", d/a}')x;" \
  "audit log: $records seccomp.violation records, chain verified"
