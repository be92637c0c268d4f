#!/bin/bash
# Break-glass work under zsp-agent, with the broker unreachable, through
# the real sudo (a pty from script(1)) and the real libpam (pamtester).
# Work under a token is placed in a cgroup named by the token's id, and
# the agent ends it, setsid children included, at the token's end, with a
# journal and spool record. The lost broker feed (feed_stale_action end)
# does not touch break-glass work. Without the agent, agent = required
# denies break-glass work and agent = optional allows it with a warning.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/agent.sh"
zsp_enter_namespace "$@"

zsp_agent_cgroup_setup zsp-bgtest

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host

zspctl=$ZSP_BUILD/zspctl
keys=$ZSP_TMP/bgkeys
mkdir -m 700 "$keys"
for i in 1 2; do
  "$zspctl" breakglass keygen --out "$keys/bg$i" >/dev/null 2>&1
  install -m 644 "$keys/bg$i.pub" "/etc/zsp/bg$i.pub"
done

# No broker listens on port 9 in this network namespace, so the host and
# the agent's feed see an unreachable broker.
down_url=https://127.0.0.1:9
settings="breakglass_key = /etc/zsp/bg1.pub
breakglass_key = /etc/zsp/bg2.pub
breakglass_signatures = 2
agent_cgroup = $ZSP_AGENT_SUBTREE
feed_stale_after = 2s
feed_stale_action = end"
export ZSP_AGENT_MODE=required
zsp_write_config "$down_url" "$settings"

cat >/etc/pam.d/zsp-bg <<EOF
auth     required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf breakglass
account  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
session  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
EOF

cleanup() {
  zsp_agent_cleanup
  zsp_cleanup
}
trap cleanup EXIT

# issue ARGS...: a token signed by both break-glass keys, with the
# arguments of zspctl breakglass issue.
issue() {
  local token
  token=$("$zspctl" breakglass issue --key "$keys/bg1.key" \
    --reason "integration test" "$@" 2>/dev/null) || return 1
  printf '%s\n' "$token" |
    "$zspctl" breakglass sign --key "$keys/bg2.key" 2>/dev/null
}

token_id() {
  "$zspctl" breakglass show "$1" | awk '/^token/ {print $2}'
}

token_exp() {
  local payload
  payload=$(printf '%s' "$1" | cut -d. -f2 | tr '_-' '/+')
  while [ $((${#payload} % 4)) -ne 0 ]; do payload="$payload="; done
  printf '%s' "$payload" | base64 -d | grep -o '"exp":[0-9]*' | cut -d: -f2
}

# tty_sudo INPUT COMMAND: runs COMMAND as alice on a pty and types INPUT
# at the token prompt. Waits for sudo to finish (at most 20 s) and sets
# OUT.
tty_sudo() {
  local input=$1 command=$2 fifo=$ZSP_TMP/tty.in out=$ZSP_TMP/tty.out pid
  rm -f "$fifo" "$out"
  mkfifo -m 600 "$fifo"
  as_user alice script -qfec "$command" /dev/null <"$fifo" >"$out" 2>&1 &
  pid=$!
  exec 3>"$fifo"
  for _ in $(seq 100); do
    grep -q 'cancels): ' "$out" 2>/dev/null && break
    sleep 0.1
  done
  printf '%s\n' "$input" >&3
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  exec 3>&-
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  OUT=$(tr -d '\r' <"$out")
}

pam_bg() {
  printf '%s\n' "$2" |
    pamtester -I rhost=192.0.2.7 -I tty=pts/4 zsp-bg "$1" authenticate \
      acct_mgmt open_session close_session
}

# --- no agent, agent = required: break-glass work denied ---
# The denied sudo leaves its token unspent; the same token runs the
# command once the agent is up (below).
run_cgroup="sudo /usr/bin/cat /proc/self/cgroup"
unspent_token=$(issue --user alice --host testhost --scope sudo --lifetime 10m)
tty_sudo "$unspent_token" "$run_cgroup"
expect_output "no agent: sudo denied" "could not be placed under its grant"
expect_no_output "no agent: token not spent" "EMERGENCY ACCESS"
expect_no_output "no agent: command did not run" "0::/"
unspent_login=$(issue --user alice --host testhost --scope login)
run pam_bg alice "$unspent_login"
expect_fail "no agent: pam login denied"
expect_output "no agent: pam user told the token was not used" \
  "the token was not used"
OUT=$(zsp_journal_json -t pam_zsp ZSP_PHASE=auth)
expect_output "no agent: pam denial names the agent" '"ZSP_REASON":"agent: '
expect_output "no agent: pam record says agent" \
  '"ZSP_BREAKGLASS_STATUS":"agent"'

# --- no agent, agent = optional: allowed with a warning ---
ZSP_AGENT_MODE=optional zsp_write_config "$down_url" "$settings"
tty_sudo "$(issue --user alice --host testhost --scope sudo --lifetime 10m)" \
  "$run_cgroup"
expect_output "optional: command ran" "0::/"
OUT=$(zsp_journal_json ZSP_BREAKGLASS=1 ZSP_DECISION=allow ZSP_KIND=sudo)
expect_output "optional: record has the agent warning" '"ZSP_AGENT_WARNING":"'
zsp_write_config "$down_url" "$settings"

# --- with the agent, the feed lost ---
zsp_start_agent || exit 1
for _ in $(seq 100); do
  grep -q 'feed-stale' "$ZSP_TMP/agent.log" && break
  sleep 0.1
done
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "agent: feed reported lost" "feed-stale"

token=$unspent_token
id=$(token_id "$token")
tty_sudo "$token" "$run_cgroup"
expect_output "sudo: token denied before now runs" "EMERGENCY ACCESS"
expect_output "sudo: runs in the token's cgroup" \
  "0::/$ZSP_AGENT_SUBTREE/$id"
tty_sudo "$token" "$run_cgroup"
expect_output "sudo: token spent by that run" "token rejected"
expect_no_output "sudo: spent token runs nothing" "0::/"
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "agent: placed under the token id" "placed grant=$id"
expect_output "agent: kind is break-glass" "kind=break-glass"

# --- expiry ends sudo work, setsid children included ---
now=$(date +%s)
token=$(issue --user alice --host testhost --scope sudo --lifetime 60s \
  --not-before $((now - 48)))
id=$(token_id "$token")
exp=$(token_exp "$token")
# Sleep times unique to this run, so that nothing left over matches.
sleep_a=$((8000000 + $$ * 2))
sleep_b=$((sleep_a + 1))
# The command returns at once and leaves children behind that outlive
# sudo and its timeout.
tty_sudo "$token" "sudo /usr/bin/bash -c 'setsid sleep $sleep_a </dev/null \
>/dev/null 2>&1 & nohup sleep $sleep_b </dev/null >/dev/null 2>&1 &'"
sleep 0.5
run zsp_count_procs "^sleep ($sleep_a|$sleep_b)\$"
expect_equal "expiry: children outlive sudo" "$OUT" 2
setsid_pid=$(pgrep -f "^sleep $sleep_a\$")
OUT=$(cat "/proc/$setsid_pid/cgroup" 2>/dev/null)
expect_output "expiry: setsid child in the token's cgroup" \
  "0::/$ZSP_AGENT_SUBTREE/$id"
if [ "$(date +%s)" -lt "$exp" ]; then
  pass "expiry: checked before the token's end"
else
  fail "expiry: checked before the token's end" "too slow"
fi
while [ "$(date +%s)" -lt "$((exp + 2))" ]; do sleep 0.2; done
run zsp_count_procs "^sleep ($sleep_a|$sleep_b)\$"
expect_equal "expiry: every process ended" "$OUT" 0
OUT=$(zsp_journal_json MESSAGE_ID=$ZSP_WORK_ENDED_ID ZSP_GRANT="$id")
expect_output "expiry: journal names the cause" '"ZSP_CAUSE":"expired"'
expect_output "expiry: journal names the token" "\"ZSP_BREAKGLASS_TOKEN\":\"$id\""
expect_output "expiry: journal names the kind" '"ZSP_KIND":"break-glass"'
expect_output "expiry: journal names the pids" '"ZSP_PIDS":"'
OUT=$(grep "$ZSP_WORK_ENDED_ID" /var/lib/zsp/spool/audit.jsonl 2>/dev/null)
expect_output "expiry: end is in the audit spool" "$id"
if [ -d "$ZSP_AGENT_CGROUP_DIR/$id" ]; then OUT=present; else OUT=removed; fi
expect_equal "expiry: cgroup removed" "$OUT" removed
OUT=$(cat "$ZSP_TMP/agent.log")
expect_no_output "stale feed: break-glass work not ended early" \
  "grant=$id cause=feed_stale"

# --- a login session through libpam ---
now=$(date +%s)
token=$(issue --user alice --host testhost --scope login --lifetime 60s \
  --not-before $((now - 50)))
id=$(token_id "$token")
exp=$(token_exp "$token")
run pam_bg alice "$token"
expect_status "pam: session allowed with the agent" 0
OUT=$(zsp_journal_json -t pam_zsp ZSP_PHASE=session ZSP_GRANT="$id")
expect_output "pam: session placed in the token's cgroup" \
  "\"ZSP_CGROUP\":\"/$ZSP_AGENT_SUBTREE/$id\""
while [ "$(date +%s)" -lt "$((exp + 2))" ]; do sleep 0.2; done
OUT=$(zsp_journal_json MESSAGE_ID=$ZSP_WORK_ENDED_ID ZSP_GRANT="$id")
expect_output "pam: agent ended the token's cgroup at its end" \
  '"ZSP_CAUSE":"expired"'

# The login token that the agent could not place earlier still works.
run pam_bg alice "$unspent_login"
expect_status "pam: token denied without the agent now logs in" 0
run pam_bg alice "$unspent_login"
expect_fail "pam: that login spent the token"

# --- a forged token is not placed ---
forged=$("$zspctl" breakglass issue --key "$keys/bg1.key" --user alice \
  --host testhost --scope sudo --reason forged 2>/dev/null)
OUT=$(timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("/run/zsp/agent.sock")
s.sendall(("{\"op\":\"place\",\"breakglass\":\"%s\"}\n" % sys.argv[1]).encode())
print(s.recv(4096).decode())
' "$forged" 2>&1)
expect_output "agent: one signature rejected" '"ok":false'

zsp_finish
