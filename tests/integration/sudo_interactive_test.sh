#!/bin/bash
# sudo_zsp's request-and-wait flow on a real terminal: the user gives a
# reason, the plugin files the request, a second person approves, and the
# command runs; Ctrl-C cancels; sudo -n and a missing terminal never prompt.
# The terminal is a pty from script(1).
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host
echo "request_wait = 20s" >>/etc/zsp/zsp.conf

pending_ids() {
  zspctl_as bob --json list --state pending | grep -o '"id": *"r-[0-9a-f]*"' |
    grep -o 'r-[0-9a-f]*'
}

# Waits up to 10 s for one pending request and prints its id.
wait_for_pending() {
  local id
  for _ in $(seq 100); do
    id=$(pending_ids | head -1)
    [ -n "$id" ] && { echo "$id"; return 0; }
    sleep 0.1
  done
  return 1
}

# Runs sudo in a pty; $1 is what the user types, $2 the command line.
sudo_on_tty() {
  local input=$1
  shift
  { printf '%s' "$input"; sleep 30; } |
    as_user alice script -qfec "$*" /dev/null
}

# --- no terminal, -n: never prompt, never file ---
run as_user alice sudo id </dev/null
expect_fail "no tty: denied"
expect_no_output "no tty: no prompt" "reason for access"
run as_user alice sudo -n id
expect_fail "-n: denied"
expect_equal "no tty and -n: nothing filed" "$(pending_ids | wc -l)" 0

# --- request, approval, run ---
sudo_on_tty $'need root id for the test\n' "sudo id" >"$ZSP_TMP/tty1.out" 2>&1 &
tty_pid=$!
id=$(wait_for_pending) || fail "flow: request filed" "no pending request"
[ -n "$id" ] && pass "flow: request filed from the terminal"
OUT=$(zspctl_as bob --json status "$id")
expect_output "flow: reason recorded" "need root id for the test"
expect_output "flow: host filed it" '"filed_by_host": "testhost"'
expect_output "flow: exact command requested" '"/usr/bin/id"'
zspctl_as bob approve "$id" >/dev/null
for _ in $(seq 100); do grep -q "uid=0" "$ZSP_TMP/tty1.out" && break; sleep 0.1; done
pkill -P "$tty_pid" 2>/dev/null; kill "$tty_pid" 2>/dev/null; wait "$tty_pid" 2>/dev/null
OUT=$(cat "$ZSP_TMP/tty1.out")
expect_output "flow: user sees the request id" "request $id filed"
expect_output "flow: user sees the approve command" "zspctl approve $id"
expect_output "flow: countdown shown" "left, Ctrl-C cancels"
expect_output "flow: command ran after approval" "uid=0(root)"

# --- denial by the approver ---
sudo_on_tty $'want whoami\n' "sudo whoami" >"$ZSP_TMP/tty2.out" 2>&1 &
tty_pid=$!
id=$(wait_for_pending)
zspctl_as bob deny "$id" --comment "not today" >/dev/null
for _ in $(seq 100); do grep -q "was denied" "$ZSP_TMP/tty2.out" && break; sleep 0.1; done
pkill -P "$tty_pid" 2>/dev/null; kill "$tty_pid" 2>/dev/null; wait "$tty_pid" 2>/dev/null
OUT=$(cat "$ZSP_TMP/tty2.out")
expect_output "deny: user told who denied and why" "was denied by bob: not today"
if tr -d '\r' <"$ZSP_TMP/tty2.out" | grep -qx root; then
  fail "deny: command did not run" "whoami printed root"
else
  pass "deny: command did not run"
fi

# --- Ctrl-C cancels ---
{ printf 'want a shell\n'; sleep 2; printf '\003'; sleep 5; } |
  as_user alice script -qfec "sudo whoami" /dev/null >"$ZSP_TMP/tty3.out" 2>&1 &
tty_pid=$!
id=$(wait_for_pending)
for _ in $(seq 60); do grep -q "cancelled" "$ZSP_TMP/tty3.out" && break; sleep 0.1; done
kill "$tty_pid" 2>/dev/null; wait "$tty_pid" 2>/dev/null
OUT=$(cat "$ZSP_TMP/tty3.out")
expect_output "ctrl-c: user told the request was cancelled" "request $id cancelled"
OUT=$(zspctl_as bob --json status "$id")
expect_output "ctrl-c: request cancelled at the broker" '"state": "cancelled"'

# --- Ctrl-C during a broker call ---
# With the broker stopped, each status call blocks in the TLS handshake
# for connect_timeout_ms (8 s here), and the plugin pauses 1 s between
# calls. So 2.5 s after the stop the plugin is inside a call, whose poll
# libcurl restarts after the signal. The Ctrl-C must still cancel once the
# call returns.
sed -i -e 's/^timeout_ms = .*/timeout_ms = 8000/' \
  -e 's/^connect_timeout_ms = .*/connect_timeout_ms = 8000/' /etc/zsp/zsp.conf
{
  printf 'want a shell\n'
  for _ in $(seq 50); do
    [ -n "$(pending_ids)" ] && break
    sleep 0.1
  done
  kill -STOP "$ZSP_BROKER_PID"
  sleep 2.5
  printf '\003'
  sleep 0.5
  kill -CONT "$ZSP_BROKER_PID"
  sleep 8
} | as_user alice script -qfec "sudo whoami" /dev/null >"$ZSP_TMP/tty5.out" 2>&1 &
tty_pid=$!
for _ in $(seq 150); do
  grep -q "cancelled" "$ZSP_TMP/tty5.out" 2>/dev/null && break
  sleep 0.1
done
kill -CONT "$ZSP_BROKER_PID" 2>/dev/null
kill "$tty_pid" 2>/dev/null; wait "$tty_pid" 2>/dev/null
sed -i -e 's/^timeout_ms = .*/timeout_ms = 2000/' \
  -e 's/^connect_timeout_ms = .*/connect_timeout_ms = 1000/' /etc/zsp/zsp.conf
if grep -qE 'request r-[0-9a-f]+ cancelled' "$ZSP_TMP/tty5.out"; then
  pass "ctrl-c in a broker call: request cancelled"
else
  fail "ctrl-c in a broker call: request cancelled" \
    "$(tr -d '\r' <"$ZSP_TMP/tty5.out" | tail -c 400)"
fi
if tr -d '\r' <"$ZSP_TMP/tty5.out" | grep -qx root; then
  fail "ctrl-c in a broker call: command did not run" "whoami printed root"
else
  pass "ctrl-c in a broker call: command did not run"
fi
for id in $(pending_ids); do zspctl_as alice cancel "$id" >/dev/null 2>&1; done

# --- an empty reason files nothing ---
sudo_on_tty $'\n' "sudo whoami" >"$ZSP_TMP/tty4.out" 2>&1 &
tty_pid=$!
sleep 2
kill "$tty_pid" 2>/dev/null; wait "$tty_pid" 2>/dev/null
expect_equal "empty reason: nothing filed" "$(pending_ids | wc -l)" 0

# --- a filed request carries -g and VAR=value ---
sudo_on_tty $'need adm and FOO\n' "sudo -u root -g adm FOO=bar env" \
  >"$ZSP_TMP/tty5.out" 2>&1 &
tty_pid=$!
id=$(wait_for_pending) || fail "group and env: request filed" "no pending request"
OUT=$(zspctl_as bob --json status "$id" | tr -d ' \n')
expect_output "group and env: request names the group" '"runas_groups":["adm"]'
expect_output "group and env: request names the variable" '"env":["FOO"]'
zspctl_as bob approve "$id" >/dev/null
for _ in $(seq 100); do grep -q "FOO=bar" "$ZSP_TMP/tty5.out" && break; sleep 0.1; done
pkill -P "$tty_pid" 2>/dev/null; kill "$tty_pid" 2>/dev/null; wait "$tty_pid" 2>/dev/null
OUT=$(cat "$ZSP_TMP/tty5.out")
expect_output "group and env: command ran with the variable" "FOO=bar"

OUT=$(zsp_journal_json -t sudo_zsp ZSP_PROMPT_RESULT="cancelled by the user")
expect_output "journal: cancelled flow recorded" '"ZSP_FILED_REQUEST":"r-'

zsp_finish
