#!/bin/bash
# sudo_zsp's expiry warning through the real sudo and the real broker. A
# command that still runs expiry_warning before its grant ends gets one
# line on its stderr from a timer in sudo's event loop, with and without
# a pty, and runs on unharmed. A terminal that takes no more output does
# not hold sudo: the warning is dropped. A command started inside the
# window gets the line at once, and expiry_warning = 0 prints nothing.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host
zsp_write_config "$ZSP_BROKER_URL" "expiry_warning = 6s"

# --- warning while the command runs, no terminal ---
request=$(zsp_grant_sudo alice bob /usr/bin/sleep 12s)
grant=$(zsp_grant_of alice "$request")
as_user alice sudo -n /usr/bin/sleep 9 </dev/null \
  >"$ZSP_TMP/out" 2>"$ZSP_TMP/err" &
sudo_job=$!
sleep 2
OUT=$(cat "$ZSP_TMP/err")
expect_no_output "no tty: no warning early" "ends at"
wait "$sudo_job"
STATUS=$?
expect_status "no tty: command not harmed" 0
OUT=$(cat "$ZSP_TMP/err")
expect_output "no tty: warning names the grant" "zsp: grant $grant ends at "
expect_output "no tty: warning says how to go on" "zspctl request"
run grep -c "ends at" "$ZSP_TMP/err"
expect_equal "no tty: exactly one warning" "$OUT" 1
OUT=$(cat "$ZSP_TMP/out")
expect_equal "no tty: stdout stays clean" "$OUT" ""

# --- warning on a pty (sudo runs the command with use_pty) ---
request=$(zsp_grant_sudo alice bob /usr/bin/bash 12s)
grant=$(zsp_grant_of alice "$request")
run as_user alice script -qfec \
  "sudo -n /usr/bin/bash -c 'sleep 9; echo finished'" /dev/null
expect_status "pty: command not harmed" 0
expect_output "pty: warning names the grant" "zsp: grant $grant ends at "
expect_output "pty: command output intact" "finished"
OUT=$(printf '%s' "$OUT" | grep "ends at" | od -c)
expect_output "pty: line ends with CR LF" '\r  \n'

# --- a terminal that takes no more output: the warning is dropped ---
# Without a non-blocking write, sudo's loop would wait in the warning
# until the terminal is drained, which full_pty.py does only after the
# limit, so sudo could not end when the command does.
request=$(zsp_grant_sudo alice bob /usr/bin/sleep 12s)
run python3 "$ZSP_ROOT/tests/tools/full_pty.py" 14 \
  setpriv --reuid alice --regid alice --init-groups -- \
  env -i HOME=/home/alice PATH=/usr/bin:/bin sudo -n /usr/bin/sleep 9
expect_output "full terminal: sudo ends with its command" "exit 0"
expect_no_output "full terminal: warning dropped" "ends at"

# --- a -T timeout that stops the command before the warning ---
request=$(zsp_grant_sudo alice bob /usr/bin/sh 12s)
run as_user alice sudo -n -T 3 /usr/bin/sh -c 'sleep 9'
expect_fail "-T: command stopped by its timeout"
expect_no_output "-T: no warning" "ends at"

# --- started inside the window: warned at once ---
zsp_write_config "$ZSP_BROKER_URL" "expiry_warning = 1h"
request=$(zsp_grant_sudo alice bob /usr/bin/id 1m)
grant=$(zsp_grant_of alice "$request")
run as_user alice sudo -n /usr/bin/id -u
expect_status "inside window: command runs" 0
expect_output "inside window: command output" "0"
expect_output "inside window: warned at once" "zsp: grant $grant ends at "

# --- expiry_warning = 0 ---
zsp_write_config "$ZSP_BROKER_URL" "expiry_warning = 0"
request=$(zsp_grant_sudo alice bob /usr/bin/dash 12s)
run as_user alice sudo -n /usr/bin/dash -c 'sleep 9; echo finished'
expect_status "off: command runs" 0
expect_output "off: command output intact" "finished"
expect_no_output "off: no warning" "ends at"
run as_user alice sudo -n /usr/bin/id -u
expect_no_output "off: no warning inside the window" "ends at"

zsp_finish
