# shellcheck shell=bash
# Shell functions shared by scripts/package-test.sh and packaging/test/upgrade.sh (sourced;
# both set $work to their scratch directory first).

# dpkg_wait CMD [ARG...]: runs a dpkg command, retrying for up to 3 minutes while another dpkg
# or apt-get holds the lock (dpkg does not wait for it; on a shared machine an apt-get may hold
# it for a while). Standard input is /dev/null, so a conffile prompt fails the command instead
# of waiting or guessing. The output goes to $work/dpkg.log and is shown on failure.
# shellcheck disable=SC2154  # $work is the caller's
dpkg_wait() {
  local _
  for _ in $(seq 90); do
    if "$@" < /dev/null > "$work/dpkg.log" 2>&1; then return 0; fi
    grep -qi "lock" "$work/dpkg.log" || { cat "$work/dpkg.log" >&2; return 1; }
    sleep 2
  done
  cat "$work/dpkg.log" >&2
  return 1
}
