#!/bin/bash
# pam_zsp in one long-lived process under valgrind. tests/tools/pam_loop
# repeats pam_start, account, session open and close, and pam_end against
# the real broker over mutual TLS. Neither an allowed nor a denied user may
# leak memory or touch invalid memory.
#
# ZSP_VALGRIND_CYCLES sets the number of cycles for the allowed user. The
# denied user runs 20, because a denial runs the same broker and audit
# code with less of the session path.
# NOTE: the default is 100 cycles to keep `make check` within a few
# minutes. 200 cycles (ZSP_VALGRIND_CYCLES=200) used about 60 s of CPU
# and 3 to 9 minutes of wall time on a shared, loaded 2-core machine.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

cycles=${ZSP_VALGRIND_CYCLES:-100}
if ! command -v valgrind >/dev/null; then
  echo "pam_valgrind_test: valgrind is not installed (tests/install-deps.sh)" >&2
  exit 1
fi

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host
# Under valgrind one broker exchange takes several times longer; a
# timeout here would be a false failure, not a memory error.
zsp_write_config "$ZSP_BROKER_URL" "timeout_ms = 15000"

id=$(zspctl_as alice request --host "$ZSP_HOST" --login --duration 1h \
  --reason "valgrind test" --quiet) && zspctl_as bob approve "$id" >/dev/null ||
  fail "setup: login grant" "request failed"

# Suppressions are not used: every report in pam_zsp, libzsp, libcurl or
# OpenSSL as loaded by the module counts. still-reachable blocks (global
# state of libcurl and OpenSSL, which the module never frees on purpose)
# are not errors.
loop() {
  valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --error-exitcode=99 \
    --log-file="$ZSP_TMP/valgrind-$1.log" \
    "$ZSP_BUILD/pam_loop" zsp-test "$1" "$2"
}

run loop alice "$cycles"
echo "pam_valgrind_test: $cycles allowed cycles took $ELAPSED_MS ms"
expect_status "allowed: $cycles cycles all succeed and valgrind is clean" 0
expect_output "allowed: every phase succeeded" \
  "cycles=$cycles account_ok=$cycles session_ok=$cycles"
OUT=$(zsp_journal_json -t pam_zsp ZSP_USER=alice ZSP_DECISION=deny |
  grep -o '"ZSP_REASON":"[^"]*"' | sort | uniq -c)
expect_equal "allowed: journal has no denial" "$OUT" ""
OUT=$(cat "$ZSP_TMP/valgrind-alice.log")
expect_no_output "allowed: no definite leaks" "definitely lost"
expect_no_output "allowed: no invalid accesses" "Invalid "
expect_equal "allowed: valgrind log is empty" "$OUT" ""

denied=20
run loop bob "$denied"
# pam_loop exits 1 when a phase fails; valgrind's own errors give 99.
expect_status "denied: loop exits 1, not valgrind's 99" 1
expect_output "denied: every account check denied" \
  "cycles=$denied account_ok=0 session_ok=0"
OUT=$(cat "$ZSP_TMP/valgrind-bob.log")
expect_no_output "denied: no definite leaks" "definitely lost"
expect_no_output "denied: no invalid accesses" "Invalid "
expect_equal "denied: valgrind log is empty" "$OUT" ""

zsp_finish
