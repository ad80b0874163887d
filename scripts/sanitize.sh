#!/usr/bin/env bash
# Builds cordon with AddressSanitizer + UndefinedBehaviorSanitizer (-DCORDON_SANITIZE=ON) in its
# own build directory and runs the whole unit and integration suite there (as CI does; run as
# root so the namespace and cgroup tests run for real).
#
#   scripts/sanitize.sh                 build-asan, every test except the adversarial suite
#   scripts/sanitize.sh -L unit         extra args go to ctest
#
# Environment: BUILD_DIR (default build-asan), JOBS (build parallelism, default nproc),
# WITH_ADVERSARIAL=1 also runs the adversarial suite against the sanitized cordon.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$here/build-asan}
jobs=${JOBS:-$(nproc)}

# -O1 -g1: sanitizer builds of the whole tree are the slowest part of CI; line tables are enough
# for the reports, and -O1 keeps ASan fast without -O2's compile time.
cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1" -DCORDON_SANITIZE=ON \
  -DCORDON_BENCH=OFF \
  >/dev/null
cmake --build "$build_dir" -j"$jobs"

# halt_on_error: the first report fails the test. detect_leaks: LeakSanitizer is part of ASan
# on x86_64 Linux. UBSan already aborts (-fno-sanitize-recover=undefined).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

exclude=(-LE 'adversarial|fuzz|go|rust')
if [ "${WITH_ADVERSARIAL:-0}" = 1 ]; then exclude=(-LE 'fuzz|go|rust'); fi
cd "$build_dir"
ctest --output-on-failure -j"$jobs" --timeout 600 "${exclude[@]}" "$@"
