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
zsp_enter_namespace "$@"

work_ended_id=9272436fe12e4807ae5a73ac8ac36337
sudo_deny_id=e4fcdd60972f4768ace9012fa6cef4f7

cgroup_mount=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
if [ -z "$cgroup_mount" ]; then
  echo "FAIL agent_test: no cgroup2 mount"
  echo "agent_test: 0 passed, 1 failed"
  exit 1
fi
# The cgroup tree is the machine's own, not private to this namespace, so
# the suite uses a subtree of its own and removes it at the end.
subtree=zsp-test-$$
stale_after=4

zsp_private_system || exit 1
zsp_add_users alice bob carol
zsp_start_broker alice bob:approver carol:auditor || exit 1
export ZSP_AGENT_MODE=required
agent_settings="agent_cgroup = $subtree
feed_stale_after = ${stale_after}s"
zsp_install_host
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings"

AGENT_PID=
SSHD_PID=
# Kills whatever is left in the test subtree, then removes it.
remove_subtree() {
  local dir
  [ -d "$cgroup_mount/$subtree" ] || return 0
  for dir in "$cgroup_mount/$subtree"/*/; do
    [ -d "$dir" ] || continue
    echo 1 >"$dir/cgroup.kill" 2>/dev/null
  done
  sleep 0.2
  find "$cgroup_mount/$subtree" -mindepth 1 -depth -type d \
    -exec rmdir {} \; 2>/dev/null
  rmdir "$cgroup_mount/$subtree" 2>/dev/null
}
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
  [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null
  [ -n "${ZSP_BROKER_PID:-}" ] && kill -CONT "$ZSP_BROKER_PID" 2>/dev/null
  remove_subtree
  zsp_cleanup
}
trap cleanup EXIT

# Starts the agent and waits for its "started" line, which it logs after
# it has adopted or ended the cgroups of an earlier run.
start_agent() {
  local i starts
  rm -f /run/zsp/agent.sock
  touch "$ZSP_TMP/agent.log"
  starts=$(grep -c '^<6>started' "$ZSP_TMP/agent.log")
  echo "--- start" >>"$ZSP_TMP/agent.log"
  "$ZSP_BUILD/zsp-agent" 2>>"$ZSP_TMP/agent.log" &
  AGENT_PID=$!
  for i in $(seq 100); do
    [ "$(grep -c '^<6>started' "$ZSP_TMP/agent.log")" -gt "$starts" ] &&
      [ -S /run/zsp/agent.sock ] && return 0
    sleep 0.05
  done
  echo "agent_test: zsp-agent did not start:" >&2
  cat "$ZSP_TMP/agent.log" >&2
  return 1
}

stop_agent() {
  kill "$AGENT_PID" 2>/dev/null
  wait "$AGENT_PID" 2>/dev/null
  AGENT_PID=
}

# count_procs PATTERN: prints how many processes have a matching command
# line.
count_procs() {
  pgrep -c -f -- "$1" || true
}

# wait_for_procs PATTERN N: waits up to 5 s until N processes match.
wait_for_procs() {
  local i
  for i in $(seq 250); do
    [ "$(count_procs "$1")" -ge "$2" ] && return 0
    sleep 0.02
  done
  return 1
}

# time_until_gone PATTERN START_NS MAX_MS: waits until no process matches;
# sets ELAPSED_MS to the time since START_NS (date +%s%N).
time_until_gone() {
  local pattern=$1 start=$2 max_ms=$3 now
  while true; do
    now=$(date +%s%N)
    ELAPSED_MS=$(((now - start) / 1000000))
    [ "$(count_procs "$pattern")" -eq 0 ] && return 0
    [ "$ELAPSED_MS" -ge "$max_ms" ] && return 1
    sleep 0.02
  done
}

# grant_of REQUEST: prints the grant id of an approved request.
grant_of() {
  zspctl_as alice --json status "$1" | grep -o '"g-[0-9a-f]*"' | head -1 |
    tr -d '"'
}

# ended_records GRANT: the work-ended journal records of GRANT, as JSON.
# The agent writes the record after it sees the cgroup empty, so a test
# that has just seen the processes gone may be first: wait up to 3 s.
ended_records() {
  local i records
  for i in $(seq 30); do
    records=$(zsp_journal_json MESSAGE_ID=$work_ended_id ZSP_GRANT="$1")
    [ -n "$records" ] && break
    sleep 0.1
  done
  printf '%s\n' "$records"
}

# --- sshd, as in sshd_test.sh, in the private /etc ---
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/zsp_test_host_key
printf '%s\n' "Port 2222" "ListenAddress 127.0.0.1" \
  "HostKey /etc/ssh/zsp_test_host_key" "UsePAM yes" \
  "PubkeyAuthentication yes" "PasswordAuthentication no" \
  "KbdInteractiveAuthentication no" \
  "AuthorizedKeysFile .ssh/authorized_keys" \
  "PidFile /run/sshd-zsp-test.pid" >/etc/ssh/zsp_test_sshd_config
printf '%s\n' "auth     required pam_deny.so" \
  "account  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf" \
  "account  required pam_unix.so" \
  "session  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf" \
  "session  required pam_unix.so" >/etc/pam.d/sshd
install -d -m 700 -o alice -g alice /home/alice/.ssh
as_user alice ssh-keygen -q -t ed25519 -N '' -f /home/alice/.ssh/id_ed25519
install -m 600 -o alice -g alice /home/alice/.ssh/id_ed25519.pub \
  /home/alice/.ssh/authorized_keys
/usr/sbin/sshd -D -e -f /etc/ssh/zsp_test_sshd_config 2>"$ZSP_TMP/sshd.log" &
SSHD_PID=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/2222) 2>/dev/null && break
  sleep 0.05
done

ssh_as() {
  local who=$1
  shift
  as_user "$who" ssh -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -i "/home/$who/.ssh/id_ed25519" "$who@127.0.0.1" "$@"
}

cat_request=$(zsp_grant_sudo alice bob /usr/bin/cat 1h)
login_request=$(zspctl_as alice request --host "$ZSP_HOST" --login \
  --duration 1h --reason "agent test" --quiet)
zspctl_as bob approve "$login_request" >/dev/null

# --- no agent running ---
run as_user alice sudo -n /usr/bin/cat /proc/self/cgroup
expect_fail "no agent: sudo denied"
expect_output "no agent: user told why" "could not be placed under its grant"
OUT=$(zsp_journal_json MESSAGE_ID=$sudo_deny_id ZSP_USER=alice)
expect_output "no agent: denial recorded" '"ZSP_REASON":"agent: cannot connect'

run ssh_as alice id -un
expect_fail "no agent: ssh login rejected"

ZSP_AGENT_MODE=optional zsp_write_config "$ZSP_BROKER_URL" "$agent_settings"
run as_user alice sudo -n /usr/bin/cat /proc/self/cgroup
expect_status "optional: sudo allowed without agent" 0
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings"

# --- placement ---
start_agent || exit 1
OUT=$(stat -c '%a %U' /run/zsp/agent.sock)
expect_equal "socket: root-only" "$OUT" "600 root"

cat_grant=$(grant_of "$cat_request")
run as_user alice sudo -n /usr/bin/cat /proc/self/cgroup
expect_status "sudo: allowed with agent" 0
expect_output "sudo: command runs in the grant's cgroup" \
  "0::/$subtree/$cat_grant"

run ssh_as alice "cat /proc/self/cgroup; echo \$\$ >$cgroup_mount/cgroup.procs"
expect_output "ssh: session runs in its grant's cgroup" "0::/$subtree/g-"
expect_output "ssh: user cannot leave the cgroup" "Permission denied"

# --- restart: live grants adopted, unknown work ended ---
# A cgroup the agent has no record of, with a process in it.
unknown=$cgroup_mount/$subtree/g-000000000000
mkdir "$unknown"
sleep 7501 </dev/null >/dev/null 2>&1 &
echo $! >"$unknown/cgroup.procs"
disown  # bash would report the kill below as a job status line
stop_agent
start_agent || exit 1
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "restart: live grant adopted" "adopted grant=$cat_grant"
time_until_gone '^sleep 7501' "$(date +%s%N)" 3000
run count_procs '^sleep 7501'
expect_equal "restart: unknown work ended" "$OUT" 0
OUT=$(ended_records g-000000000000)
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
  EXPIRY_GRANT=$(grant_of "$request")
  as_user alice sudo -n /usr/bin/bash -c \
    "setsid sleep ${n}1 </dev/null >/dev/null 2>&1 &
     nohup sleep ${n}2 </dev/null >/dev/null 2>&1 &
     (sleep ${n}3 </dev/null >/dev/null 2>&1 &)
     sleep ${n}4" </dev/null >/dev/null 2>&1 &
  wait_for_procs "^sleep ${n}[1-4]" 4
  sudo_parent=$(pgrep -o -U alice -x sudo)
  as_user alice kill -KILL "$sudo_parent"
  sleep 0.5
  run count_procs "^sleep ${n}1"
  expect_equal "$method expiry: setsid child outlives the killed sudo" \
    "$OUT" 1
  setsid_pid=$(pgrep -f "^sleep ${n}1")
  OUT=$(cat "/proc/$setsid_pid/cgroup" 2>/dev/null)
  expect_output "$method expiry: setsid child is in the grant's cgroup" \
    "0::/$subtree/$EXPIRY_GRANT"
}

# finish_expiry_case METHOD N: waits for the end of EXPIRY_GRANT and
# checks that its work is gone.
finish_expiry_case() {
  local method=$1 n=$2 expires
  # The grant's end as the agent logged it when it placed the command.
  expires=$(grep -o "placed grant=$EXPIRY_GRANT .*grant_exp=[0-9]*" \
    "$ZSP_TMP/agent.log" | head -1 | grep -o '[0-9]*$')
  while [ "$(date +%s)" -lt "$((expires + 2))" ]; do sleep 0.2; done
  run count_procs "^sleep ${n}[1-4]"
  expect_equal "$method expiry: every process ended" "$OUT" 0
  OUT=$(ended_records "$EXPIRY_GRANT")
  expect_output "$method expiry: journal names the cause" \
    '"ZSP_CAUSE":"expired"'
  expect_output "$method expiry: journal names the method" \
    "\"ZSP_KILL_METHOD\":\"$method\""
  if [ -d "$cgroup_mount/$subtree/$EXPIRY_GRANT" ]; then
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
  local method=$1 n=$2 request start
  request=$(zsp_grant_sudo alice bob /usr/bin/dash 1h)
  DASH_GRANT=$(grant_of "$request")
  as_user alice sudo -n /usr/bin/dash -c \
    "setsid sleep ${n}1 </dev/null >/dev/null 2>&1 &
     setsid dash -c 'while :; do setsid sleep ${n}3 & sleep 0.05; done' \
       </dev/null >/dev/null 2>&1 &
     sleep ${n}2" </dev/null >/dev/null 2>&1 &
  wait_for_procs "^sleep ${n}[12]" 2
  wait_for_procs "^sleep ${n}3" 3
  run count_procs "^sleep ${n}[12]"
  expect_equal "$method revoke sudo: command and child running" "$OUT" 2
  start=$(date +%s%N)
  zspctl_as alice revoke "$DASH_GRANT" >/dev/null
  if time_until_gone "sleep ${n}[123]" "$start" 5000; then
    pass "$method revoke sudo: all processes ended"
  else
    fail "$method revoke sudo: all processes ended" "still running after 5 s"
  fi
  expect_faster "$method revoke sudo: ended within 2 s" 2000
  OUT=$(ended_records "$DASH_GRANT")
  expect_output "$method revoke sudo: journal names the cause" \
    '"ZSP_CAUSE":"revoked"'
  expect_output "$method revoke sudo: journal names the pids" '"ZSP_PIDS":"'
  expect_output "$method revoke sudo: journal names the method" \
    "\"ZSP_KILL_METHOD\":\"$method\""
  OUT=$(grep "ended grant=$DASH_GRANT " "$ZSP_TMP/agent.log")
  expect_output "$method revoke sudo: log names the method" \
    "method=$method"
}

# request_login: files and approves a login request for alice; prints its
# id.
request_login() {
  local request
  request=$(zspctl_as alice request --host "$ZSP_HOST" --login \
    --duration 1h --reason "agent test" --quiet)
  zspctl_as bob approve "$request" >/dev/null
  echo "$request"
}

# revoke_ssh_case METHOD N REQUEST: revokes the login grant of REQUEST,
# alice's only live one, during an ssh session with a setsid child, and
# checks that both end within 2 s and that the connection closes.
revoke_ssh_case() {
  local method=$1 n=$2 grant start ssh_job ssh_status
  grant=$(grant_of "$3")
  ssh_as alice "setsid sleep ${n}1 </dev/null >/dev/null 2>&1 & sleep ${n}2" \
    </dev/null >/dev/null 2>&1 &
  ssh_job=$!
  wait_for_procs "^sleep ${n}[12]" 2
  run count_procs "^sleep ${n}[12]"
  expect_equal "$method revoke ssh: session and child running" "$OUT" 2
  start=$(date +%s%N)
  zspctl_as alice revoke "$grant" >/dev/null
  if time_until_gone "^sleep ${n}[12]" "$start" 5000; then
    pass "$method revoke ssh: all processes ended"
  else
    fail "$method revoke ssh: all processes ended" "still running after 5 s"
  fi
  expect_faster "$method revoke ssh: ended within 2 s" 2000
  wait "$ssh_job"
  ssh_status=$?
  if [ "$ssh_status" -ne 0 ]; then
    pass "$method revoke ssh: connection closed"
  else
    fail "$method revoke ssh: connection closed" "ssh exited with status 0"
  fi
  OUT=$(ended_records "$grant")
  expect_output "$method revoke ssh: journal names the cause" \
    '"ZSP_CAUSE":"revoked"'
  expect_output "$method revoke ssh: journal names the user" \
    '"ZSP_USER":"alice"'
  expect_output "$method revoke ssh: journal names the method" \
    "\"ZSP_KILL_METHOD\":\"$method\""

  run ssh_as alice id -un
  expect_fail "$method revoke ssh: new login rejected"
}

# --- kill_method = auto, which is cgroup.kill on this kernel ---
if [ -e "$cgroup_mount/$subtree/cgroup.kill" ]; then
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
stop_agent
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings
kill_method = freeze"
start_agent || exit 1
start_expiry_case freeze 760
revoke_sudo_case freeze 770
revoke_ssh_case freeze 780 "$(request_login)"
finish_expiry_case freeze 760
OUT=$(find "$cgroup_mount/$subtree" -name cgroup.freeze -exec cat {} +)
expect_no_output "freeze: no cgroup left frozen" 1

# --- kill_method = cgroup.kill ---
stop_agent
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings
kill_method = cgroup.kill"
start_agent || exit 1
revoke_sudo_case cgroup.kill 790
stop_agent
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings"
start_agent || exit 1

# --- the audit store ---
spool=/var/lib/zsp/spool/audit.jsonl
OUT=$(grep "$work_ended_id" "$spool" 2>/dev/null)
expect_output "audit: end is in the spool" "$dash_grant"
run "$ZSP_BUILD/zspctl" audit flush
expect_status "audit: spool delivered" 0
OUT=$(zspctl_as carol audit query --host "$ZSP_HOST" --format json)
expect_output "audit: store has the revocation end" "$dash_grant"
expect_output "audit: store has the expiry end" "$expiry_grant"

# --- feed lost, feed_stale_action = end ---
sleep_request=$(zsp_grant_sudo alice bob /usr/bin/sleep 1h)
sleep_grant=$(grant_of "$sleep_request")
as_user alice sudo -n /usr/bin/sleep 7401 </dev/null >/dev/null 2>&1 &
wait_for_procs '^(/usr/bin/)?sleep 7401' 1
kill -STOP "$ZSP_BROKER_PID"
start=$(date +%s%N)
if time_until_gone '^(/usr/bin/)?sleep 7401' "$start" $(((stale_after + 6) * 1000)); then
  pass "feed lost, end: work ended"
else
  fail "feed lost, end: work ended" "still running"
fi
if [ "$ELAPSED_MS" -ge 1000 ]; then
  pass "feed lost, end: not before the feed went stale"
else
  fail "feed lost, end: not before the feed went stale" "${ELAPSED_MS} ms"
fi
OUT=$(ended_records "$sleep_grant")
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
stop_agent
zsp_write_config "$ZSP_BROKER_URL" "$agent_settings
feed_stale_action = keep"
start_agent || exit 1
as_user alice sudo -n /usr/bin/sleep 7402 </dev/null >/dev/null 2>&1 &
wait_for_procs '^(/usr/bin/)?sleep 7402' 1
kill -STOP "$ZSP_BROKER_PID"
sleep $((stale_after + 3))
run count_procs '^(/usr/bin/)?sleep 7402'
expect_equal "feed lost, keep: work still running" "$OUT" 1
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "feed lost, keep: agent logged it" "feed-stale"
expect_output "feed lost, keep: log names the action" "action=keep"
kill -CONT "$ZSP_BROKER_PID"

start=$(date +%s%N)
zspctl_as alice revoke "$sleep_grant" >/dev/null
if time_until_gone '^(/usr/bin/)?sleep 7402' "$start" 10000; then
  pass "feed back: revocation ends the kept work"
else
  fail "feed back: revocation ends the kept work" "still running"
fi

zsp_finish
