#!/bin/bash
# zsp-agent through the real sudo, a real sshd login and the real broker
# over mutual TLS. Work under a grant is placed in the grant's cgroup v2
# directory. It is ended at expiry (even after the user killed the sudo
# parent), within 2 seconds of a revocation, and when the broker feed is
# lost (feed_stale_action end), or kept (keep). Expiry and revocation run
# with kill_method auto (cgroup.kill here) and again with freeze. Without
# the agent, new work is denied. Every end is a journal record, names the
# kill method and reaches the audit store.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/agent.sh"
zsp_enter_namespace "$@"

sudo_deny_id=e4fcdd60972f4768ace9012fa6cef4f7

zsp_agent_cgroup_setup zsp-test
stale_after=4

zsp_private_system || exit 1
zsp_add_users alice bob carol
zsp_start_broker alice bob:approver carol:auditor || exit 1
export ZSP_AGENT_MODE=required
agent_settings="agent_cgroup = $ZSP_AGENT_SUBTREE
feed_stale_after = ${stale_after}s"
zsp_install_host
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings"

cleanup() {
  [ -n "${ZSP_BROKER_PID:-}" ] && kill -CONT "$ZSP_BROKER_PID" 2>/dev/null
  zsp_agent_cleanup
  zsp_cleanup
}
trap cleanup EXIT

# --- sshd with pam_zsp in its account and session stacks ---
printf '%s\n' "auth     required pam_deny.so" \
  "account  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf" \
  "account  required pam_unix.so" \
  "session  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf" \
  "session  required pam_unix.so" >/etc/pam.d/sshd
zsp_start_sshd alice || exit 1

cat_request=$(zsp_grant_sudo alice bob /usr/bin/cat 1h)
login_request=$(zsp_grant_login alice bob)

# --- no agent running ---
run as_user alice sudo -n /usr/bin/cat /proc/self/cgroup
expect_fail "no agent: sudo denied"
expect_output "no agent: user told why" "could not be placed under its grant"
OUT=$(zsp_journal_json MESSAGE_ID=$sudo_deny_id ZSP_USER=alice)
expect_output "no agent: denial recorded" '"ZSP_REASON":"agent: cannot connect'

run zsp_ssh_as alice id -un
expect_fail "no agent: ssh login rejected"

run "$ZSP_BUILD/zspctl" host check
expect_fail "host check: fails without the agent"
expect_output "host check: names the agent" \
  "FAIL  zsp-agent at /run/zsp/agent.sock: cannot connect"
expect_output "host check: says to start it" \
  "fix: start it: systemctl enable --now zsp-agent; with agent = required"

ZSP_AGENT_MODE=optional zsp_write_config "$ZSP_BROKER_URL" "$agent_settings"
run as_user alice sudo -n /usr/bin/cat /proc/self/cgroup
expect_status "optional: sudo allowed without agent" 0
run "$ZSP_BUILD/zspctl" host check
expect_output "host check: optional agent only warned about" \
  "warn  zsp-agent at /run/zsp/agent.sock: cannot connect"
expect_no_output "host check: optional agent is no failure" "FAIL  zsp-agent"
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings"

# --- placement ---
zsp_start_agent || exit 1
OUT=$(stat -c '%a %U' /run/zsp/agent.sock)
expect_equal "socket: root-only" "$OUT" "600 root"

run "$ZSP_BUILD/zspctl" host check
expect_output "host check: agent running" \
  "ok    zsp-agent at /run/zsp/agent.sock: running as root, with this configuration"
expect_output "host check: client key accepted" "matches its key"
# A decision key that group or others can write is not trusted.
chmod 664 /etc/zsp/decision.pub
run "$ZSP_BUILD/zspctl" host check
expect_fail "host check: group-writable decision key fails"
expect_output "host check: names the key file's mode" \
  "FAIL  decision keys: key file /etc/zsp/decision.pub is writable by group or others"
expect_output "host check: says to chmod the key file" \
  "fix: chown root:root and chmod 0644 /etc/zsp/decision.pub"
chmod 644 /etc/zsp/decision.pub
# The agent keeps the settings it read at start.
cp /etc/zsp/zsp.conf "$ZSP_TMP/zsp.conf.good"
echo "# changed after the agent started" >>/etc/zsp/zsp.conf
run "$ZSP_BUILD/zspctl" host check
expect_output "host check: configuration changed after the agent started" \
  "FAIL  zsp-agent at /run/zsp/agent.sock: runs with other settings than /etc/zsp/zsp.conf holds now"
expect_output "host check: says to restart the agent" \
  "fix: restart it: systemctl restart zsp-agent"
zsp_stop_agent
zsp_start_agent || exit 1
run "$ZSP_BUILD/zspctl" host check
expect_output "host check: restarted agent runs this configuration" \
  "ok    zsp-agent at /run/zsp/agent.sock: running as root, with this configuration"
OUT=$(cat "$ZSP_TMP/agent.log")
expect_no_output "host check: asks without a rejected probe" \
  "rejected reason"
cp "$ZSP_TMP/zsp.conf.good" /etc/zsp/zsp.conf
zsp_stop_agent
zsp_start_agent || exit 1
key=$(sed -n 's/^client_key = //p' /etc/zsp/zsp.conf)
chmod 644 "$key"
run "$ZSP_BUILD/zspctl" host check
expect_output "host check: readable client key rejected" \
  "FAIL  client key $key: must be owned by root and readable by no one else"
chmod 600 "$key"

cat_grant=$(zsp_grant_of alice "$cat_request")
run as_user alice sudo -n /usr/bin/cat /proc/self/cgroup
expect_status "sudo: allowed with agent" 0
expect_output "sudo: command runs in the grant's cgroup" \
  "0::/$ZSP_AGENT_SUBTREE/$cat_grant"

run zsp_ssh_as alice \
  "cat /proc/self/cgroup; echo \$\$ >$ZSP_CGROUP_MOUNT/cgroup.procs"
expect_output "ssh: session runs in its grant's cgroup" \
  "0::/$ZSP_AGENT_SUBTREE/g-"
expect_output "ssh: user cannot leave the cgroup" "Permission denied"

# --- restart: live grants adopted, unknown work ended ---
# A cgroup the agent has no record of, with a process in it.
unknown=$ZSP_AGENT_CGROUP_DIR/g-000000000000
mkdir "$unknown"
sleep 7501 </dev/null >/dev/null 2>&1 &
echo $! >"$unknown/cgroup.procs"
disown  # bash would report the kill below as a job status line
zsp_stop_agent
zsp_start_agent || exit 1
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "restart: live grant adopted" "adopted grant=$cat_grant"
zsp_time_until_gone '^sleep 7501' "$(date +%s%N)" 3000
run zsp_count_procs '^sleep 7501'
expect_equal "restart: unknown work ended" "$OUT" 0
OUT=$(zsp_work_ended_records g-000000000000)
expect_output "restart: journal names the cause" \
  '"ZSP_CAUSE":"unknown_at_start"'

# The cases that end work run once per kill method. Each takes the
# method's name, which prefixes the test names and must appear in the
# records as ZSP_KILL_METHOD, and a number that makes the sleep commands
# of this round unique (sleep NNN1 and so on).

# start_expiry_case METHOD N: starts a sudo command under a 20 s grant
# with setsid, nohup and background children, then kills its sudo parent
# as the user. Sets EXPIRY_GRANT; finish_expiry_case checks the end.
start_expiry_case() {
  local method=$1 n=$2 request sudo_parent setsid_pid
  request=$(zsp_grant_sudo alice bob /usr/bin/bash 20s)
  EXPIRY_GRANT=$(zsp_grant_of alice "$request")
  as_user alice sudo -n /usr/bin/bash -c \
    "setsid sleep ${n}1 </dev/null >/dev/null 2>&1 &
     nohup sleep ${n}2 </dev/null >/dev/null 2>&1 &
     (sleep ${n}3 </dev/null >/dev/null 2>&1 &)
     sleep ${n}4" </dev/null >/dev/null 2>&1 &
  zsp_wait_for_procs "^sleep ${n}[1-4]" 4
  sudo_parent=$(pgrep -o -U alice -x sudo)
  as_user alice kill -KILL "$sudo_parent"
  sleep 0.5
  run zsp_count_procs "^sleep ${n}1"
  expect_equal "$method expiry: setsid child outlives the killed sudo" \
    "$OUT" 1
  setsid_pid=$(pgrep -f "^sleep ${n}1")
  OUT=$(cat "/proc/$setsid_pid/cgroup" 2>/dev/null)
  expect_output "$method expiry: setsid child is in the grant's cgroup" \
    "0::/$ZSP_AGENT_SUBTREE/$EXPIRY_GRANT"
}

# finish_expiry_case METHOD N: waits for the end of EXPIRY_GRANT and
# checks that its work is gone.
finish_expiry_case() {
  local method=$1 n=$2 expires
  # The grant's end as the agent logged it when it placed the command.
  expires=$(grep -o "placed grant=$EXPIRY_GRANT .*grant_exp=[0-9]*" \
    "$ZSP_TMP/agent.log" | head -1 | grep -o '[0-9]*$')
  while [ "$(date +%s)" -lt "$((expires + 2))" ]; do sleep 0.2; done
  run zsp_count_procs "^sleep ${n}[1-4]"
  expect_equal "$method expiry: every process ended" "$OUT" 0
  OUT=$(zsp_work_ended_records "$EXPIRY_GRANT")
  expect_output "$method expiry: journal names the cause" \
    '"ZSP_CAUSE":"expired"'
  expect_output "$method expiry: journal names the method" \
    "\"ZSP_KILL_METHOD\":\"$method\""
  if [ -d "$ZSP_AGENT_CGROUP_DIR/$EXPIRY_GRANT" ]; then
    OUT=present
  else
    OUT=removed
  fi
  expect_equal "$method expiry: cgroup removed" "$OUT" removed
}

# revoke_sudo_case METHOD N: revokes the grant of a running sudo command
# whose setsid child keeps starting new sessions, and checks that all of
# them end within 2 s. Sets DASH_GRANT.
revoke_sudo_case() {
  local method=$1 n=$2 request
  request=$(zsp_grant_sudo alice bob /usr/bin/dash 1h)
  DASH_GRANT=$(zsp_grant_of alice "$request")
  as_user alice sudo -n /usr/bin/dash -c \
    "setsid sleep ${n}1 </dev/null >/dev/null 2>&1 &
     setsid dash -c 'while :; do setsid sleep ${n}3 & sleep 0.05; done' \
       </dev/null >/dev/null 2>&1 &
     sleep ${n}2" </dev/null >/dev/null 2>&1 &
  zsp_wait_for_procs "^sleep ${n}[12]" 2
  zsp_wait_for_procs "^sleep ${n}3" 3
  run zsp_count_procs "^sleep ${n}[12]"
  expect_equal "$method revoke sudo: command and child running" "$OUT" 2
  zsp_expect_revoke_ends "$method revoke sudo" alice "$DASH_GRANT" \
    "sleep ${n}[123]"
  OUT=$(zsp_work_ended_records "$DASH_GRANT")
  expect_output "$method revoke sudo: journal names the cause" \
    '"ZSP_CAUSE":"revoked"'
  expect_output "$method revoke sudo: journal names the pids" '"ZSP_PIDS":"'
  expect_output "$method revoke sudo: journal names the method" \
    "\"ZSP_KILL_METHOD\":\"$method\""
  OUT=$(grep "ended grant=$DASH_GRANT " "$ZSP_TMP/agent.log")
  expect_output "$method revoke sudo: log names the method" \
    "method=$method"
}

# revoke_ssh_case METHOD N REQUEST: revokes the login grant of REQUEST,
# alice's only live one, during an ssh session with a setsid child, and
# checks that both end within 2 s and that the connection closes.
revoke_ssh_case() {
  local method=$1 n=$2 grant ssh_job ssh_status
  grant=$(zsp_grant_of alice "$3")
  zsp_ssh_as alice \
    "setsid sleep ${n}1 </dev/null >/dev/null 2>&1 & sleep ${n}2" \
    </dev/null >/dev/null 2>&1 &
  ssh_job=$!
  zsp_wait_for_procs "^sleep ${n}[12]" 2
  run zsp_count_procs "^sleep ${n}[12]"
  expect_equal "$method revoke ssh: session and child running" "$OUT" 2
  zsp_expect_revoke_ends "$method revoke ssh" alice "$grant" \
    "^sleep ${n}[12]"
  wait "$ssh_job"
  ssh_status=$?
  if [ "$ssh_status" -ne 0 ]; then
    pass "$method revoke ssh: connection closed"
  else
    fail "$method revoke ssh: connection closed" "ssh exited with status 0"
  fi
  OUT=$(zsp_work_ended_records "$grant")
  expect_output "$method revoke ssh: journal names the cause" \
    '"ZSP_CAUSE":"revoked"'
  expect_output "$method revoke ssh: journal names the user" \
    '"ZSP_USER":"alice"'
  expect_output "$method revoke ssh: journal names the method" \
    "\"ZSP_KILL_METHOD\":\"$method\""

  run zsp_ssh_as alice id -un
  expect_fail "$method revoke ssh: new login rejected"
}

# --- kill_method = auto, which is cgroup.kill on this kernel ---
if [ -e "$ZSP_AGENT_CGROUP_DIR/cgroup.kill" ]; then
  pass "auto: kernel has cgroup.kill"
else
  fail "auto: kernel has cgroup.kill" "the cases below expect Linux 5.14+"
fi
start_expiry_case cgroup.kill 710
expiry_grant=$EXPIRY_GRANT
revoke_sudo_case cgroup.kill 720
dash_grant=$DASH_GRANT
revoke_ssh_case cgroup.kill 730 "$login_request"
finish_expiry_case cgroup.kill 710

# --- kill_method = freeze: cgroup.freeze, SIGKILL each process, thaw ---
zsp_stop_agent
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings
kill_method = freeze"
zsp_start_agent || exit 1
start_expiry_case freeze 760
revoke_sudo_case freeze 770
revoke_ssh_case freeze 780 "$(zsp_grant_login alice bob)"
finish_expiry_case freeze 760
OUT=$(find "$ZSP_AGENT_CGROUP_DIR" -name cgroup.freeze -exec cat {} +)
expect_no_output "freeze: no cgroup left frozen" 1

# --- kill_method = cgroup.kill ---
zsp_stop_agent
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings
kill_method = cgroup.kill"
zsp_start_agent || exit 1
revoke_sudo_case cgroup.kill 790
zsp_stop_agent
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings"
zsp_start_agent || exit 1

# --- the audit store ---
spool=/var/lib/zsp/spool/audit.jsonl
OUT=$(grep "$ZSP_WORK_ENDED_ID" "$spool" 2>/dev/null)
expect_output "audit: end is in the spool" "$dash_grant"
run "$ZSP_BUILD/zspctl" audit flush
expect_status "audit: spool delivered" 0
OUT=$(zspctl_as carol audit query --host "$ZSP_HOST" --format json)
expect_output "audit: store has the revocation end" "$dash_grant"
expect_output "audit: store has the expiry end" "$expiry_grant"

# --- feed lost, feed_stale_action = end ---
sleep_request=$(zsp_grant_sudo alice bob /usr/bin/sleep 1h)
sleep_grant=$(zsp_grant_of alice "$sleep_request")
as_user alice sudo -n /usr/bin/sleep 7401 </dev/null >/dev/null 2>&1 &
zsp_wait_for_procs '^(/usr/bin/)?sleep 7401' 1
kill -STOP "$ZSP_BROKER_PID"
start=$(date +%s%N)
if zsp_time_until_gone '^(/usr/bin/)?sleep 7401' "$start" \
  $(((stale_after + 6) * 1000)); then
  pass "feed lost, end: work ended"
else
  fail "feed lost, end: work ended" "still running"
fi
if [ "$ELAPSED_MS" -ge 1000 ]; then
  pass "feed lost, end: not before the feed went stale"
else
  fail "feed lost, end: not before the feed went stale" "${ELAPSED_MS} ms"
fi
OUT=$(zsp_work_ended_records "$sleep_grant")
expect_output "feed lost, end: journal names the cause" \
  '"ZSP_CAUSE":"feed_stale"'
restored=$(grep -c 'feed-restored' "$ZSP_TMP/agent.log")
kill -CONT "$ZSP_BROKER_PID"
for _ in $(seq 100); do
  [ "$(grep -c 'feed-restored' "$ZSP_TMP/agent.log")" -gt "$restored" ] &&
    break
  sleep 0.1
done
run as_user alice sudo -n /usr/bin/sleep 0
expect_status "feed back: the grant places work again" 0

# --- feed lost, feed_stale_action = keep ---
zsp_stop_agent
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings
feed_stale_action = keep"
zsp_start_agent || exit 1
as_user alice sudo -n /usr/bin/sleep 7402 </dev/null >/dev/null 2>&1 &
zsp_wait_for_procs '^(/usr/bin/)?sleep 7402' 1
kill -STOP "$ZSP_BROKER_PID"
sleep $((stale_after + 3))
run zsp_count_procs '^(/usr/bin/)?sleep 7402'
expect_equal "feed lost, keep: work still running" "$OUT" 1
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "feed lost, keep: agent logged it" "feed-stale"
expect_output "feed lost, keep: log names the action" "action=keep"
kill -CONT "$ZSP_BROKER_PID"

start=$(date +%s%N)
zspctl_as alice revoke "$sleep_grant" >/dev/null
if zsp_time_until_gone '^(/usr/bin/)?sleep 7402' "$start" 10000; then
  pass "feed back: revocation ends the kept work"
else
  fail "feed back: revocation ends the kept work" "still running"
fi

zsp_finish
