#!/bin/bash
# Runs every test suite (CppUnit unit tests, then the integration suites)
# and ends with the total line "N passed, N failed". Exits non-zero if any
# test failed or a suite did not report.
cd "$(dirname "$0")/.." || exit 1
total_passed=0
total_failed=0
log_dir=$(mktemp -d /tmp/zsp-check.XXXXXX)

# run_suite NAME CMD...: runs a suite and adds up its summary line.
run_suite() {
  local name=$1
  shift
  echo "== $name"
  "$@" 2>&1 | tee "$log_dir/$name.log"
  local summary
  summary=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log_dir/$name.log" | tail -1)
  if [ -z "$summary" ]; then
    echo "FAIL $name: suite ended without a summary line"
    total_failed=$((total_failed + 1))
    return
  fi
  local p f
  p=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
  f=$(echo "$summary" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
}

run_suite unit build/unit_tests
run_suite fuzz tests/fuzz/run.sh 10
run_suite check-symbols tests/check-symbols.sh
run_suite check-banned tests/check-banned.sh
for suite in tests/integration/*_test.sh; do
  run_suite "$(basename "$suite" .sh)" bash "$suite"
done
rm -rf "$log_dir"

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
