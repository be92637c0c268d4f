#!/bin/bash
# Runs what `make asan-build` built with AddressSanitizer and UBSan into
# BUILD_DIR (default build-asan), in four stages:
# 1. the unit tests;
# 2. tests/integration/pam_valgrind_test.sh with the sanitized pam_loop
#    and pam_zsp.so instead of valgrind;
# 3. the integration suites in ZSP_ASAN_SUITES against the sanitized
#    broker and zspctl, with the modules and other tools of build/;
# 4. every fuzz target for SECONDS each (default 10; 0 skips them).
# Any sanitizer report fails its stage, including one from a broker that
# a suite started in the background. Ends with "asan: N passed, N failed",
# counting stages and suites.
#
# Usage: tests/asan.sh [BUILD_DIR] [SECONDS]
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
build=$(cd "${1:-build-asan}" 2>/dev/null && pwd)
seconds=${2:-10}
ZSP_SUITE=asan
. tests/lib/assert.sh

# The suites that exercise the broker and zspctl most: policy file and
# approval rules, the review flows, audit delivery and verification,
# break-glass tokens, and sudo decisions. Each suite's wall time is
# printed, so CI logs show what this stage costs.
# On a clean clone with 2 cores, `make asan-ci` took about 7 minutes after
# `make check`, most of it the sanitized build.
ZSP_ASAN_SUITES=${ZSP_ASAN_SUITES:-"policy e2e_review audit breakglass sudo"}

# halt_on_error stops at the first report, so the exit status shows it.
# detect_leaks is off because LeakSanitizer needs ptrace, which some
# containers deny. Reports go to files as well, because a broker that a
# suite runs in the background has no terminal that the suite checks.
reports=$(mktemp -d /tmp/zsp-asan.XXXXXX)
chmod 1777 "$reports"
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=0:exitcode=86:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:log_path=$reports/ubsan"

# check_reports NAME: fails NAME when any process wrote a sanitizer
# report since the last call, and clears them.
check_reports() {
  if compgen -G "$reports/*" >/dev/null; then
    OUT=$(head -40 "$reports"/*)
    fail "$1: no sanitizer reports" "$(ls "$reports" | wc -l) report files"
    rm -f "$reports"/*
  else
    pass "$1: no sanitizer reports"
  fi
}

# --- 1. unit tests ---
if [ -z "$build" ] || [ ! -x "$build/unit_tests" ]; then
  fail "unit tests: built" "${1:-build-asan}/unit_tests not found; run make asan-build"
  zsp_finish
fi
log=$(mktemp /tmp/zsp-asan-unit.XXXXXX)
"$build/unit_tests" >"$log" 2>&1
status=$?
if [ "$status" -eq 0 ]; then
  pass "unit tests under ASan and UBSan ($(grep -oE '[0-9]+ passed' "$log" | tail -1))"
else
  OUT=$(grep -E -A30 'FAIL|failed' "$log" | head -60)
  fail "unit tests under ASan and UBSan" "exit status $status"
fi
rm -f "$log"
check_reports "unit tests"

# --- 2. the PAM module in one long-lived process ---
run env ZSP_BUILD="$build" ZSP_PAM_LOOP_RUNNER=direct \
  ZSP_VALGRIND_CYCLES=200 bash tests/integration/pam_valgrind_test.sh
if [ "$STATUS" -eq 0 ]; then
  pass "pam_loop and pam_zsp.so under ASan and UBSan"
else
  OUT=$(printf '%s\n' "$OUT" | grep -E 'FAIL|ERROR|runtime error' | head -20)
  fail "pam_loop and pam_zsp.so under ASan and UBSan" "exit status $STATUS"
fi
check_reports "pam_loop"

# --- 3. integration suites against the sanitized broker and zspctl ---
mixed="$build/integration"
rm -rf "$mixed" && mkdir -p "$mixed"
for tool in pam_zsp.so sudo_zsp.so pam_loop tcp_blackhole hostile_broker \
  open_watch; do
  cp "$root/build/$tool" "$mixed/" ||
    fail "integration: $tool from build/" "missing; run make all"
done
cp "$build/zsp-broker" "$build/zspctl" "$mixed/"
for suite in $ZSP_ASAN_SUITES; do
  start=$(date +%s)
  run env ZSP_BUILD="$mixed" bash "tests/integration/${suite}_test.sh"
  summary=$(printf '%s\n' "$OUT" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -1)
  echo "asan: ${suite}_test took $(($(date +%s) - start)) s: $summary"
  if [ "$STATUS" -eq 0 ] && [ -n "$summary" ]; then
    pass "${suite}_test with the sanitized broker and zspctl"
  else
    OUT=$(printf '%s\n' "$OUT" | grep -E '^FAIL' | head -20)
    fail "${suite}_test with the sanitized broker and zspctl" \
      "exit status $STATUS, ${summary:-no summary line}"
  fi
  check_reports "${suite}_test"
done

# --- 4. fuzz targets ---
if [ "$seconds" -gt 0 ]; then
  if tests/fuzz/run.sh "$seconds"; then
    pass "fuzz targets (ASan and UBSan) for $seconds s each"
  else
    fail "fuzz targets (ASan and UBSan) for $seconds s each" "see the lines above"
  fi
fi

rm -rf "$reports"
zsp_finish
