#!/bin/bash
# Break-glass emergency access through the real sudo (a pty from script(1))
# and the real libpam (pamtester), with the broker unreachable. A valid
# 2-of-3 token allows what it names once and is logged at alert priority.
# Too few signatures, another user, host or scope, an expired token and a
# spent token are denied. With the broker reachable no token is offered
# unless breakglass_with_broker is set. Then the records reach the audit
# store, `zspctl audit query --break-glass` lists them, and a review by an
# approver takes them off that list.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver carol:auditor || exit 1
zsp_install_host

bg_allow_id=e37a9cd6af944bd9bad413ffccf5563c
bg_deny_id=ac964c9e59f44502878f784a368c0f23
zspctl=$ZSP_BUILD/zspctl
keys=$ZSP_TMP/bgkeys
mkdir -m 700 "$keys"

for i in 1 2 3; do
  run "$zspctl" breakglass keygen --out "$keys/bg$i"
  expect_status "keygen: key pair $i created" 0
  install -m 644 "$keys/bg$i.pub" "/etc/zsp/bg$i.pub"
done
expect_output "keygen: prints the key id" "key id "
run "$zspctl" breakglass keygen --out "$keys/bg1"
expect_fail "keygen: never overwrites a key"

bg_settings="breakglass_key = /etc/zsp/bg1.pub
breakglass_key = /etc/zsp/bg2.pub
breakglass_key = /etc/zsp/bg3.pub
breakglass_signatures = 2
breakglass_max_lifetime = 2h"

# No broker listens on port 9 in this network namespace: every connection
# is refused at once, which is how an unreachable broker looks.
down_url=https://127.0.0.1:9
zsp_write_config "$down_url" "$bg_settings"

cat >/etc/pam.d/zsp-bg <<EOF
auth     required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf breakglass
account  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
session  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
EOF

# issue SIGNERS ARGS...: a token signed by the keys numbered in SIGNERS
# (e.g. "13"), with issue's remaining arguments.
issue() {
  local signers=$1 token i
  shift
  token=$("$zspctl" breakglass issue --key "$keys/bg${signers:0:1}.key" \
    --reason "integration test" "$@" 2>/dev/null) || return 1
  for ((i = 1; i < ${#signers}; i++)); do
    token=$(printf '%s\n' "$token" |
      "$zspctl" breakglass sign --key "$keys/bg${signers:i:1}.key" 2>/dev/null) ||
      return 1
  done
  printf '%s\n' "$token"
}

# tty_sudo INPUT COMMAND [DELAY]: runs COMMAND as alice on a pty. INPUT is
# typed DELAY seconds (default 0) after a prompt (a line ending in ": ")
# has appeared, or not at all if it is empty. Waits for sudo to finish (at
# most 15 s) and sets OUT.
tty_sudo() {
  local input=$1 command=$2 delay=${3:-0} fifo=$ZSP_TMP/tty.in
  local out=$ZSP_TMP/tty.out pid
  rm -f "$fifo" "$out"
  mkfifo -m 600 "$fifo"
  as_user alice script -qfec "$command" /dev/null <"$fifo" >"$out" 2>&1 &
  pid=$!
  exec 3>"$fifo"
  if [ -n "$input" ]; then
    for _ in $(seq 100); do
      grep -q 'cancels): ' "$out" 2>/dev/null && break
      sleep 0.1
    done
    sleep "$delay"
    printf '%s\n' "$input" >&3
  fi
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  exec 3>&-
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  OUT=$(tr -d '\r' <"$out")
}

# pam_bg USER TOKEN: the whole login through the zsp-bg service, the
# token typed at the auth phase's prompt.
pam_bg() {
  printf '%s\n' "$2" |
    pamtester -I rhost=192.0.2.7 -I tty=pts/4 zsp-bg "$1" authenticate \
      acct_mgmt open_session close_session
}

# --- the token tools ---
token=$(issue 12 --user alice --host 'test*' --scope sudo --lifetime 30m)
expect_equal "issue: two signatures" \
  "$(printf '%s' "$token" | tr -cd '.' | wc -c)" 5
run "$zspctl" breakglass show "$token" --conf /etc/zsp/zsp.conf
expect_status "show: signatures check out against zsp.conf" 0
expect_output "show: names the user" "alice"
expect_output "show: names the run-as user" "sudo as root"
# A break-glass key file that group or others can write is not trusted:
# no prompt at the outage, and host check names the file beforehand.
chmod 664 /etc/zsp/bg2.pub
run "$zspctl" host check
expect_output "key file: host check names the mode" \
  "FAIL  break-glass keys: breakglass_key: key file /etc/zsp/bg2.pub is writable by group or others"
expect_output "key file: host check says to chmod it" \
  "fix: chown root:root and chmod 0644 /etc/zsp/bg2.pub"
run pam_bg alice "$token"
expect_fail "key file: login with a token denied"
expect_output "key file: user told emergency access is not available" \
  "emergency access is not available: breakglass_key: key file /etc/zsp/bg2.pub is writable by group or others"
chmod 644 /etc/zsp/bg2.pub
run "$zspctl" host check
expect_output "key file: host check passes the keys again" \
  "ok    break-glass keys: 3 pinned"
run sh -c "printf '%s\n' '$token' | '$zspctl' breakglass sign --key '$keys/bg1.key'"
expect_fail "sign: the same key cannot sign twice"
expect_output "sign: says why" "already signed"
run "$zspctl" breakglass issue --key "$keys/bg1.key" --user alice \
  --host testhost --scope sudo --lifetime 25h --reason "too long"
expect_fail "issue: window over 24h refused"

# --- broker down: sudo with a valid token, once ---
tty_sudo "$token" "sudo id"
expect_output "sudo: token prompt offered" "paste a break-glass token"
expect_output "sudo: told the broker is unreachable" "could not be reached"
expect_output "sudo: emergency access announced" "EMERGENCY ACCESS"
expect_output "sudo: command ran as root" "uid=0(root)"
expect_no_output "sudo: token not echoed" "${token:0:40}"

token_id=$("$zspctl" breakglass show "$token" | awk '/^token/ {print $2}')
[ -n "$token_id" ] && pass "show: prints the token id" ||
  fail "show: prints the token id" "no id"
grep -q "^$token_id " /var/lib/zsp/spool/breakglass-spent &&
  pass "spent: token id recorded" || fail "spent: token id recorded" "missing"

OUT=$(zsp_journal_json MESSAGE_ID=$bg_allow_id)
expect_output "journal: break-glass allow record" "\"ZSP_BREAKGLASS_TOKEN\":\"$token_id\""
expect_output "journal: at alert priority" '"PRIORITY":"1"'
expect_output "journal: break-glass flag" '"ZSP_BREAKGLASS":"1"'
expect_output "journal: names the command" '"ZSP_COMMAND":"/usr/bin/id"'
expect_output "journal: names the signers" '"ZSP_BREAKGLASS_SIGNERS":"'
expect_no_output "journal: token text never logged" "${token:20:40}"

tty_sudo "$token" "sudo id"
expect_output "spent: second use rejected" "already been used"
expect_no_output "spent: command did not run again" "uid=0(root)"

# --- broker down: tokens that do not cover the use ---
deny_case() {
  local name=$1 expected=$2 tok=$3 command=${4:-sudo id}
  tty_sudo "$tok" "$command"
  expect_output "$name: rejected" "$expected"
  expect_no_output "$name: command did not run" "uid=0(root)"
}
deny_case "one signature" "this host requires 2" \
  "$(issue 3 --user alice --host testhost --scope sudo)"
deny_case "other user" "another user" \
  "$(issue 23 --user bob --host testhost --scope sudo)"
deny_case "other host" "not this one" \
  "$(issue 13 --user alice --host 'db-*' --scope sudo)"
deny_case "login scope" "not sudo" \
  "$(issue 13 --user alice --host testhost --scope login)"
deny_case "other run-as user" "sudo as daemon only" \
  "$(issue 13 --user alice --host testhost --scope sudo --runas daemon)"
deny_case "expired" "expired" \
  "$(issue 12 --user alice --host testhost --scope sudo --lifetime 1h \
    --not-before $(($(date +%s) - 7200)))"
# The prompt waits without a time limit: a token that ends while it is
# open is checked at the time it was pasted.
short_token=$(issue 12 --user alice --host testhost --scope sudo --lifetime 3s)
short_id=$("$zspctl" breakglass show "$short_token" | grep -o 'bg-[0-9a-f]*' |
  head -1)
tty_sudo "$short_token" "sudo id" 4
expect_output "expired at the prompt: rejected as expired" "expired"
expect_no_output "expired at the prompt: command did not run" "uid=0(root)"
OUT=$(zsp_journal_json ZSP_BREAKGLASS_TOKEN="$short_id")
expect_output "expired at the prompt: recorded as expired" \
  '"ZSP_BREAKGLASS_STATUS":"expired"'
deny_case "window over host maximum" "longer than breakglass_max_lifetime" \
  "$(issue 12 --user alice --host testhost --scope sudo --lifetime 3h)"
tampered=$(issue 12 --user alice --host testhost --scope sudo)
# Changes one character in the middle of the last signature.
flipped=$([ "${tampered: -20:1}" = A ] && echo B || echo A)
tampered="${tampered:0:${#tampered}-20}$flipped${tampered: -19}"
deny_case "tampered signature" "does not verify" "$tampered"

OUT=$(zsp_journal_json MESSAGE_ID=$bg_deny_id)
expect_output "journal: rejected token logged" '"ZSP_BREAKGLASS_STATUS":"too-few-signatures"'
expect_output "journal: rejection at alert priority" '"PRIORITY":"1"'
expect_output "journal: spent token logged" '"ZSP_BREAKGLASS_STATUS":"spent"'

run as_user alice sudo -n id
expect_fail "sudo -n: denied"
expect_no_output "sudo -n: no token prompt" "break-glass"

# --- broker down: login through libpam ---
login_token=$(issue 32 --user alice --host testhost --scope login)
run pam_bg alice "$login_token"
expect_status "pam: valid login token allows auth, account and session" 0
login_id=$("$zspctl" breakglass show "$login_token" | awk '/^token/ {print $2}')
OUT=$(zsp_journal_json MESSAGE_ID=$bg_allow_id ZSP_KIND=login)
expect_output "pam: journal alert record" "\"ZSP_BREAKGLASS_TOKEN\":\"$login_id\""
expect_output "pam: journal record at alert priority" '"PRIORITY":"1"'
OUT=$(zsp_journal_json -t pam_zsp ZSP_PHASE=session ZSP_GRANT="$login_id")
expect_output "pam: session opened under the token" "session-open"
run pam_bg alice "$login_token"
expect_fail "pam: second use denied"
expect_output "pam: second use is PAM_AUTH_ERR" "Authentication failure"
run pam_bg bob "$(issue 12 --user alice --host testhost --scope login)"
expect_fail "pam: token for another user denied"
run pam_bg alice ""
expect_fail "pam: no token denied"
run pamtester zsp-test alice acct_mgmt
expect_fail "pam: account phase alone does not accept tokens"

# --- broker reachable: no token offered ---
zsp_write_config "$ZSP_BROKER_URL" "$bg_settings"
tty_sudo $'\n' "sudo id"
expect_output "reachable: the request flow runs" "reason for access"
expect_no_output "reachable: no token prompt" "break-glass token"
run pam_bg alice "$(issue 12 --user alice --host testhost --scope login)"
expect_fail "reachable: pam denies without a grant"
expect_no_output "reachable: pam offers no token" "break-glass"

# An answer that fails verification is not an outage: no token prompt.
cp /etc/zsp/decision.pub "$ZSP_TMP/decision.pub.real"
"$ZSP_BUILD/zsp-broker" init "$ZSP_TMP/other-broker" --host "$ZSP_HOST" \
  >/dev/null 2>&1
install -m 644 "$ZSP_TMP/other-broker/decision.pub" /etc/zsp/decision.pub
run pam_bg alice "$(issue 12 --user alice --host testhost --scope login)"
expect_fail "invalid answer: pam denies"
expect_no_output "invalid answer: pam offers no token" "break-glass"
tty_sudo "" "sudo id"
expect_output "invalid answer: sudo denies" "failed verification"
expect_no_output "invalid answer: sudo offers no token" "break-glass"
install -m 644 "$ZSP_TMP/decision.pub.real" /etc/zsp/decision.pub

# A failure on this host is no outage: with too few file descriptors for
# the client certificate, sudo denies without a token prompt.
tty_sudo "" "prlimit --nofile=8 sudo id"
expect_output "local failure: sudo says it failed on this host" \
  "sudo failed on this host"
expect_no_output "local failure: no token prompt" "break-glass token"
expect_no_output "local failure: nothing ran" "uid=0"
# Descriptors left open for sudo up to a few below the limit make the
# connect itself fail, which curl reports like a refused connection.
tty_sudo "" 'bash -c "ulimit -n 256; for i in \$(seq 3 250); do eval \"exec \$i</dev/null\"; done; exec sudo id"'
expect_output "open descriptors: sudo says it failed on this host" \
  "sudo failed on this host"
expect_no_output "open descriptors: no token prompt" "break-glass token"

# A user who stops their own sudo until the broker call times out makes
# a reachable broker look down. A broker that never responds shows the
# difference: without a stop the token prompt opens, with one it does not.
"$ZSP_BUILD/tcp_blackhole" >"$ZSP_TMP/blackhole.port" &
blackhole_pid=$!
for _ in $(seq 50); do [ -s "$ZSP_TMP/blackhole.port" ] && break; sleep 0.05; done
zsp_write_config "https://127.0.0.1:$(cat "$ZSP_TMP/blackhole.port")" \
  "$bg_settings
connect_timeout_ms = 1500
timeout_ms = 1500"
tty_sudo "not-a-token" "sudo id"
expect_output "hung broker: token prompt opens after the timeout" \
  "paste a break-glass token"

stopped_token=$(issue 12 --user alice --host testhost --scope sudo)
rm -f "$ZSP_TMP/tty.stop"
mkfifo -m 600 "$ZSP_TMP/tty.stop"
as_user alice script -qfec "sudo id" /dev/null <"$ZSP_TMP/tty.stop" \
  >"$ZSP_TMP/tty.stop.out" 2>&1 &
script_pid=$!
exec 4>"$ZSP_TMP/tty.stop"
sudo_pid=
for _ in $(seq 50); do
  sudo_pid=$(pgrep -U alice -x sudo | head -1)
  [ -n "$sudo_pid" ] && break
  sleep 0.05
done
if [ -n "$sudo_pid" ]; then
  pass "stopped sudo: sudo found"
else
  fail "stopped sudo: sudo found" "no sudo with alice's real uid"
fi
# Stops sudo once its broker call is under way: connected, waiting for
# the TLS reply that never comes.
blackhole_port=$(cat "$ZSP_TMP/blackhole.port")
for _ in $(seq 100); do
  [ -n "$(ss -Htn state established "( dport = :$blackhole_port )")" ] && break
  sleep 0.05
done
kill -STOP "$sudo_pid"
sleep 2
kill -CONT "$sudo_pid"
for _ in $(seq 50); do
  grep -q 'cancels): ' "$ZSP_TMP/tty.stop.out" 2>/dev/null && break
  kill -0 "$script_pid" 2>/dev/null || break
  sleep 0.1
done
# Typed only if a prompt came, which would then be the bug.
if grep -q 'cancels): ' "$ZSP_TMP/tty.stop.out"; then
  printf '%s\n' "$stopped_token" >&4
fi
for _ in $(seq 50); do kill -0 "$script_pid" 2>/dev/null || break; sleep 0.1; done
exec 4>&-
kill "$script_pid" 2>/dev/null
wait "$script_pid" 2>/dev/null
OUT=$(tr -d '\r' <"$ZSP_TMP/tty.stop.out")
expect_output "stopped sudo: told it was stopped" \
  "sudo was stopped (Ctrl-Z) while it waited for the broker"
expect_no_output "stopped sudo: no token prompt" "break-glass token"
expect_no_output "stopped sudo: nothing ran" "uid=0"
OUT=$(zsp_journal_json -t sudo_zsp ZSP_STOPPED=1)
expect_output "stopped sudo: the record says so" '"ZSP_STOPPED":"1"'
kill "$blackhole_pid"
wait "$blackhole_pid" 2>/dev/null

zsp_write_config "$ZSP_BROKER_URL" "$bg_settings
breakglass_with_broker = true"
tty_sudo "$(issue 12 --user alice --host testhost --scope both)" "sudo id"
expect_output "with_broker: token offered after a denial" "paste a break-glass token"
expect_output "with_broker: valid token allows" "uid=0(root)"

# --- the store lists the uses until an approver reviews them ---
run "$zspctl" audit flush --conf /etc/zsp/zsp.conf
expect_status "audit: spool delivered" 0
run zspctl_as carol audit query --break-glass
expect_output "audit: lists the sudo use" "$token_id"
expect_output "audit: lists the login use" "$login_id"
expect_output "audit: shows the event" "break-glass-allow"
seq=$(zspctl_as carol audit query --break-glass |
  awk -v id="$token_id" '$4 == "break-glass-allow" && $0 ~ id {print $3}' |
  head -1)
[ -n "$seq" ] && pass "audit: record seq found" || fail "audit: record seq found" "none"
run zspctl_as alice breakglass review --host "$ZSP_HOST" --seq "$seq" \
  --comment "looks fine to me"
expect_fail "review: a person without the role cannot review"
ordinary=$(zspctl_as carol audit query --decision deny |
  awk '$4 == "sudo-deny" {print $3; exit}')
run zspctl_as bob breakglass review --host "$ZSP_HOST" --seq "$ordinary" \
  --comment "not an emergency record"
expect_fail "review: an ordinary record cannot be reviewed"
run zspctl_as bob breakglass review --host "$ZSP_HOST" --seq "$seq" \
  --comment "outage ticket checked, commands match"
expect_status "review: approver records a review" 0
run zspctl_as bob breakglass review --host "$ZSP_HOST" --seq "$seq" \
  --comment again
expect_fail "review: a record is reviewed once"
# allowed_row ID: the table row of the break-glass allow under token ID.
allowed_row() {
  printf '%s\n' "$OUT" | awk -v id="$1" '$4 == "break-glass-allow" && $0 ~ id'
}
run zspctl_as carol audit query --break-glass
expect_equal "audit: reviewed use leaves the list" "$(allowed_row "$token_id")" ""
[ -n "$(allowed_row "$login_id")" ] && pass "audit: unreviewed use stays" ||
  fail "audit: unreviewed use stays" "no row for $login_id"
run zspctl_as carol audit query --break-glass --include-reviewed
[ -n "$(allowed_row "$token_id")" ] &&
  pass "audit: reviewed use listed on request" ||
  fail "audit: reviewed use listed on request" "no row for $token_id"

zsp_finish
