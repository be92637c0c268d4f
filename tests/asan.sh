#!/bin/bash
# Runs the unit tests built with AddressSanitizer and UBSan (`make asan`
# builds them into BUILD_DIR, default build-asan) and then every fuzz
# target for SECONDS each (default 10). Any sanitizer report fails the
# run. Ends with "asan: N passed, N failed", counting the two stages.
#
# Usage: tests/asan.sh [BUILD_DIR] [SECONDS]
cd "$(dirname "$0")/.." || exit 1
build=${1:-build-asan}
seconds=${2:-10}
ZSP_SUITE=asan
. tests/lib/assert.sh

# halt_on_error stops at the first report, so the exit status shows it.
# detect_leaks is off because LeakSanitizer needs ptrace, which some
# containers deny.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=0:exitcode=86
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87

if [ ! -x "$build/unit_tests" ]; then
  fail "unit tests: built" "$build/unit_tests not found; run make asan"
else
  log=$(mktemp /tmp/zsp-asan.XXXXXX)
  "$build/unit_tests" >"$log" 2>&1
  status=$?
  if [ "$status" -eq 0 ] && ! grep -qE 'ERROR: AddressSanitizer|runtime error:' "$log"; then
    pass "unit tests under ASan and UBSan ($(grep -oE '[0-9]+ passed' "$log" | tail -1))"
  else
    OUT=$(grep -E -A30 'ERROR: AddressSanitizer|runtime error:|FAIL|failed' "$log" | head -60)
    fail "unit tests under ASan and UBSan" "exit status $status"
  fi
  rm -f "$log"
fi

if tests/fuzz/run.sh "$seconds"; then
  pass "fuzz targets (ASan and UBSan) for $seconds s each"
else
  fail "fuzz targets (ASan and UBSan) for $seconds s each" "see the lines above"
fi

zsp_finish
