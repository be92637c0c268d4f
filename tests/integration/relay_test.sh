#!/bin/bash
# Decisions relayed through zsp-agent (decision_relay = agent), through the
# real sudo, the real libpam (pamtester), the real agent and the real broker
# over mutual TLS. With the agent running, sudo and login decisions take the
# relay and the modules never open libcurl. With the agent stopped, the
# direct path still allows under a valid grant and the journal records why.
# A hostile stand-in on the agent's socket (a genuine signed decision for
# another user, a replayed one, garbage, a short body, a stall) never causes
# an allow, and sudo still returns within timeout_ms.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/agent.sh"
zsp_enter_namespace "$@"

sudo_allow_id=34880e3274ec4b8197a9866f02897fbe
sudo_deny_id=e4fcdd60972f4768ace9012fa6cef4f7

zsp_agent_cgroup_setup zsp-relay-test

zsp_private_system || exit 1
zsp_add_users alice bob carol
zsp_start_broker alice bob:approver carol || exit 1
export ZSP_AGENT_MODE=required
settings="agent_cgroup = $ZSP_AGENT_SUBTREE"
zsp_install_host
zsp_write_config "$ZSP_BROKER_URL" "$settings"

STANDIN_PID=
cleanup() {
  [ -n "$STANDIN_PID" ] && kill "$STANDIN_PID" 2>/dev/null
  zsp_agent_cleanup
  zsp_cleanup
}
trap cleanup EXIT

# standin MODE: (re)starts the stand-in agent if needed and sets its mode.
standin() {
  local i
  echo "$1" >"$ZSP_TMP/standin.mode"
  [ -n "$STANDIN_PID" ] && return 0
  install -d -m 755 /run/zsp
  python3 "$ZSP_ROOT/tests/tools/relay_standin.py" /run/zsp/agent.sock \
    "$ZSP_TMP/standin.mode" "$ZSP_BROKER_URL" 2>>"$ZSP_TMP/standin.log" &
  STANDIN_PID=$!
  for i in $(seq 100); do
    grep -q 'standin: ready' "$ZSP_TMP/standin.log" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "relay_test: stand-in did not start:" >&2
  cat "$ZSP_TMP/standin.log" >&2
  return 1
}

# last_field MESSAGE_ID USER FIELD: FIELD of USER's last record of that
# kind.
last_field() {
  zsp_journal_json MESSAGE_ID="$1" ZSP_USER="$2" | tail -n1 | jq -r ".$3"
}

# libraries_opened USER CMD...: runs CMD as USER, the way as_user does,
# under strace and prints every library that it and its children open.
# strace runs as root, so sudo still gets its privileges. A watch on the
# library directory would also see other processes on the machine.
libraries_opened() {
  local who=$1
  shift
  strace -f -qq -e trace=openat -o "$ZSP_TMP/opens.strace" \
    setpriv --reuid "$who" --regid "$who" --init-groups -- \
    env -i HOME="/home/$who" USER="$who" LOGNAME="$who" TERM=dumb \
    PATH=/usr/local/bin:/usr/bin:/bin "$@" >/dev/null 2>&1
  grep -o '"[^"]*\.so[^"]*"' "$ZSP_TMP/opens.strace"
}

id_request=$(zsp_grant_sudo alice bob /usr/bin/id) || exit 1
carol_request=$(zsp_grant_sudo carol bob /usr/bin/true) || exit 1
zsp_grant_login alice bob >/dev/null || exit 1

# --- the real agent relays sudo and login decisions ---
zsp_start_agent || exit 1
run as_user alice sudo -n id -un
expect_status "agent: sudo allowed" 0
expect_output "agent: command ran as root" "root"
expect_equal "agent: allow taken through the relay" \
  "$(last_field $sudo_allow_id alice ZSP_PATH)" agent
expect_equal "agent: no relay problem recorded" \
  "$(last_field $sudo_allow_id alice ZSP_RELAY_PROBLEM)" null

run as_user bob sudo -n id
expect_fail "agent: sudo without a grant denied"
expect_equal "agent: signed denial taken through the relay" \
  "$(last_field $sudo_deny_id bob ZSP_PATH)" agent

OUT=$(libraries_opened alice sudo -n id)
expect_no_output "agent: sudo never opens libcurl" "libcurl"
expect_output "agent: strace saw sudo's libraries" "libc.so"
expect_output "agent: strace saw sudo_zsp loaded" "sudo_zsp.so"

run pamtester zsp-test alice acct_mgmt
expect_status "agent: login account phase allowed" 0
OUT=$(zsp_journal_json SYSLOG_IDENTIFIER=pam_zsp ZSP_USER=alice | tail -n1)
expect_output "agent: login decision through the relay" '"ZSP_PATH":"agent"'
strace -f -e trace=openat -o "$ZSP_TMP/pam.strace" \
  pamtester zsp-test alice acct_mgmt >/dev/null 2>&1
OUT=$(cat "$ZSP_TMP/pam.strace")
expect_output "agent: strace saw pam_zsp loaded" "pam_zsp.so"
expect_no_output "agent: pam_zsp never opens libcurl" "libcurl"
run pamtester zsp-test bob acct_mgmt
expect_fail "agent: login without a grant denied"

# --- decision_relay = direct skips the agent ---
zsp_write_config "$ZSP_BROKER_URL" "$settings
decision_relay = direct"
run as_user alice sudo -n id
expect_status "direct: sudo allowed" 0
expect_equal "direct: allow taken directly" \
  "$(last_field $sudo_allow_id alice ZSP_PATH)" direct
OUT=$(libraries_opened alice sudo -n id)
expect_output "direct: strace sees sudo open libcurl" "libcurl"
zsp_write_config "$ZSP_BROKER_URL" "$settings"

# --- agent stopped: the direct path still allows under a valid grant ---
zsp_stop_agent
ZSP_AGENT_MODE=optional zsp_write_config "$ZSP_BROKER_URL" "$settings"
run as_user alice sudo -n id -un
expect_status "stopped: sudo allowed through the direct path" 0
expect_equal "stopped: allow taken directly" \
  "$(last_field $sudo_allow_id alice ZSP_PATH)" direct
OUT=$(last_field $sudo_allow_id alice ZSP_RELAY_PROBLEM)
expect_output "stopped: relay problem names the socket" "cannot connect"
run pamtester zsp-test alice acct_mgmt
expect_status "stopped: login allowed through the direct path" 0
run as_user bob sudo -n id
expect_fail "stopped: sudo without a grant still denied"

# --- hostile stand-in: never an allow for a user without a grant ---
# bob has no grant. carol has one, so the broker signs real allows for her.
standin forward || exit 1
run as_user carol sudo -n true
expect_status "stand-in forward: genuine relay allowed" 0
expect_equal "stand-in forward: through the relay" \
  "$(last_field $sudo_allow_id carol ZSP_PATH)" agent

for mode in other-user garbage short stall; do
  standin $mode
  run as_user bob sudo -n true
  expect_fail "stand-in $mode: bob denied"
  expect_faster "stand-in $mode: within timeout_ms" 3000
  expect_equal "stand-in $mode: denial after the direct path" \
    "$(last_field $sudo_deny_id bob ZSP_PATH)" direct
  run pamtester zsp-test bob acct_mgmt
  expect_fail "stand-in $mode: bob's login denied"
done
OUT=$(zsp_journal_json MESSAGE_ID=$sudo_deny_id ZSP_USER=bob |
  jq -r .ZSP_RELAY_PROBLEM)
expect_output "stand-in other-user: rejected as another user's" "wrong user"
expect_output "stand-in garbage: rejected as malformed" "reply header"
expect_output "stand-in short: rejected as cut short" "announced"
expect_output "stand-in stall: rejected after its share of timeout_ms" \
  "timed out"

# A signed allow that the stand-in saved for carol is replayed to her
# after her grant is revoked: the nonce does not match, and the broker
# then denies on the direct path.
standin forward
as_user carol sudo -n true >/dev/null 2>&1
carol_grant=$(zspctl_as carol --json status "$carol_request" | jq -r .grant)
zspctl_as carol revoke "$carol_grant" --reason "relay test" >/dev/null
standin replay
run as_user carol sudo -n true
expect_fail "stand-in replay: revoked carol denied"
OUT=$(last_field $sudo_deny_id carol ZSP_RELAY_PROBLEM)
expect_output "stand-in replay: rejected as a replay" "wrong nonce"

# With a valid grant, a hostile stand-in costs time but not the allow.
standin garbage
run as_user alice sudo -n id -un
expect_status "stand-in garbage: alice still allowed directly" 0
standin stall
run as_user alice sudo -n id -un
expect_status "stand-in stall: alice allowed directly" 0
expect_faster "stand-in stall: within timeout_ms" 3000

# A stand-in that never responds to placements either, with agent =
# required: the placement gets what is left of timeout_ms (4 s) after the
# relay's half and the direct call. The denial then comes after about
# 4 s, where a placement with a whole timeout_ms of its own took 6 s.
standin stall-all
zsp_write_config "$ZSP_BROKER_URL" "$settings
timeout_ms = 4000"
run as_user alice sudo -n id -un
expect_fail "stand-in stall-all: alice denied, not placed"
expect_faster "stand-in stall-all: placement within timeout_ms" 5000
expect_equal "stand-in stall-all: placement waited what was left" \
  "$([ "$ELAPSED_MS" -ge 3500 ] && echo waited || echo "$ELAPSED_MS ms")" \
  waited
expect_output "stand-in stall-all: the user is told why" \
  "could not be placed under its grant"
expect_equal "stand-in stall-all: the allow came directly" \
  "$(last_field $sudo_deny_id alice ZSP_PATH)" direct
ZSP_AGENT_MODE=optional zsp_write_config "$ZSP_BROKER_URL" "$settings"

# --- relays held by a broker that never responds leave room to place ---
# The real agent relays to a TCP listener that never responds, with
# timeout_ms and connect_timeout_ms of 15 s, while 16 clients ask it to
# relay at once: it keeps at most 12 of them and rejects the rest at once.
# sudo, which takes the direct path to the real broker, is then still
# placed.
kill "$STANDIN_PID" 2>/dev/null
wait "$STANDIN_PID" 2>/dev/null
STANDIN_PID=
"$ZSP_BUILD/tcp_blackhole" >"$ZSP_TMP/blackhole.port" &
ZSP_BLACKHOLE_PID=$!
for _ in $(seq 100); do
  [ -s "$ZSP_TMP/blackhole.port" ] && break
  sleep 0.02
done
zsp_write_config "https://127.0.0.1:$(cat "$ZSP_TMP/blackhole.port")" \
  "$settings
connect_timeout_ms = 15000
timeout_ms = 15000
feed_stale_action = keep"
zsp_start_agent || exit 1
zsp_write_config "$ZSP_BROKER_URL" "$settings
decision_relay = direct"
python3 - /run/zsp/agent.sock >"$ZSP_TMP/stalled.log" 2>&1 <<'PYTHON' &
import socket, sys, threading
line = b'{"op":"decide","timeout_ms":15000,"body":"{}"}\n'
output = threading.Lock()  # one whole line per reply
def relay():
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(sys.argv[1])
    client.sendall(line)
    reply = client.recv(4096).split(b"\n")[0].decode()
    with output:
        print(reply, flush=True)
threads = [threading.Thread(target=relay) for _ in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
PYTHON
STALLED_PID=$!
for _ in $(seq 100); do
  [ "$(grep -c 'relaying 12 decisions already' "$ZSP_TMP/stalled.log")" -ge 4 ] &&
    break
  sleep 0.05
done
OUT=$(cat "$ZSP_TMP/stalled.log")
expect_equal "stalled broker: 4 of 16 relays refused at once" \
  "$(grep -c 'relaying 12 decisions already' "$ZSP_TMP/stalled.log")" 4
run as_user alice sudo -n id -un
expect_status "stalled broker: sudo placed and allowed" 0
expect_output "stalled broker: command ran as root" "root"
expect_equal "stalled broker: 12 relays still held" \
  "$(grep -c . "$ZSP_TMP/stalled.log")" 4
kill "$STALLED_PID" 2>/dev/null
wait "$STALLED_PID" 2>/dev/null
zsp_stop_agent

# --- a first broker that drops packets: the second one is tried first ---
# The first broker_url never responds, and connect_timeout_ms (1.2 s) is
# half of timeout_ms (2.4 s), the relay's whole share. Trying the first broker
# first on both paths would use up the relay's share and then the rest
# of timeout_ms before the second broker. Right after the agent starts,
# before its feed has reached the second broker, the relay still spends
# its share on the first one, but its failure names it, so the direct
# path tries the second broker first. Once the feed has reached the
# second broker, relays go there first and are allowed at once.
blackhole_url="https://127.0.0.1:$(cat "$ZSP_TMP/blackhole.port")"
zsp_write_config "$blackhole_url" "$settings
broker_url = $ZSP_BROKER_URL
connect_timeout_ms = 1200
timeout_ms = 2400"
zsp_start_agent || exit 1
run as_user alice sudo -n id -un
expect_status "dropping first broker, cold agent: sudo allowed" 0
expect_faster "dropping first broker, cold agent: second broker first" 2100
expect_equal "dropping first broker, cold agent: allow taken directly" \
  "$(last_field $sudo_allow_id alice ZSP_PATH)" direct
OUT=$(last_field $sudo_allow_id alice ZSP_RELAY_PROBLEM)
expect_output "dropping first broker, cold agent: relay tried the first" \
  "$blackhole_url"
for _ in $(seq 100); do
  grep -qF "feed-connected broker=$ZSP_BROKER_URL" "$ZSP_TMP/agent.log" &&
    break
  sleep 0.05
done
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "dropping first broker: feed reached the second" \
  "feed-connected broker=$ZSP_BROKER_URL"
run as_user alice sudo -n id -un
expect_status "dropping first broker: sudo allowed" 0
expect_faster "dropping first broker: within half of timeout_ms" 1200
expect_equal "dropping first broker: allow taken through the relay" \
  "$(last_field $sudo_allow_id alice ZSP_PATH)" agent
zsp_stop_agent

zsp_finish
