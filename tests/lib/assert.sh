# Minimal assertions for the shell integration tests. Each check prints
# PASS or FAIL with its name; zsp_finish prints "SUITE: N passed, N failed"
# and sets the exit status.

ZSP_PASSED=0
ZSP_FAILED=0
ZSP_SUITE=${ZSP_SUITE:-$(basename "$0" .sh)}

pass() {
  ZSP_PASSED=$((ZSP_PASSED + 1))
  echo "PASS $ZSP_SUITE: $1"
}

fail() {
  ZSP_FAILED=$((ZSP_FAILED + 1))
  echo "FAIL $ZSP_SUITE: $1: $2"
  if [ -n "${OUT:-}" ]; then
    printf '%s\n' "$OUT" | head -20 | sed 's/^/    | /'
  fi
}

# run CMD...: runs it, keeps stdout and stderr in OUT, exit status in STATUS
# and wall time in milliseconds in ELAPSED_MS.
run() {
  local start end
  start=$(date +%s%N)
  OUT=$("$@" 2>&1)
  STATUS=$?
  end=$(date +%s%N)
  ELAPSED_MS=$(((end - start) / 1000000))
}

# expect_status NAME CODE: checks STATUS from the last run.
expect_status() {
  if [ "$STATUS" = "$2" ]; then pass "$1"; else
    fail "$1" "exit status $STATUS, expected $2"
  fi
}

# expect_fail NAME: checks that the last run failed.
expect_fail() {
  if [ "$STATUS" != 0 ]; then pass "$1"; else
    fail "$1" "succeeded, expected failure"
  fi
}

# expect_output NAME TEXT: checks that OUT contains TEXT (fixed string).
expect_output() {
  if printf '%s' "$OUT" | grep -qF -- "$2"; then pass "$1"; else
    fail "$1" "output lacks \"$2\""
  fi
}

# expect_no_output NAME TEXT: checks that OUT does not contain TEXT.
expect_no_output() {
  if printf '%s' "$OUT" | grep -qF -- "$2"; then
    fail "$1" "output contains \"$2\""
  else pass "$1"; fi
}

# expect_faster NAME MS: checks that the last run took less than MS.
expect_faster() {
  if [ "$ELAPSED_MS" -lt "$2" ]; then pass "$1"; else
    fail "$1" "took ${ELAPSED_MS} ms, limit $2 ms"
  fi
}

# expect_equal NAME ACTUAL EXPECTED
expect_equal() {
  if [ "$2" = "$3" ]; then pass "$1"; else
    fail "$1" "got \"$2\", expected \"$3\""
  fi
}

zsp_finish() {
  echo "$ZSP_SUITE: $ZSP_PASSED passed, $ZSP_FAILED failed"
  [ "$ZSP_FAILED" -eq 0 ]
}
