#!/bin/bash
# Fault matrix: every way the broker, the network, DNS, TLS, the answer or
# the configuration can be wrong, each run through the real sudo and the
# real libpam (pamtester). Each case must deny, show the user the expected
# message, leave exactly one deny record in the journal that names the
# cause, and finish within timeout_ms plus a small margin.
#
# The faults come from tests/tools/hostile_broker, which signs its crafted
# answers with the test broker's real decision key and issues its TLS
# certificates from the test broker's CA: a check that is skipped on the
# host would turn the case into an allow. alice holds real sudo and login
# grants throughout, so only the fault stands between her and an allow.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host

sudo_allow_id=34880e3274ec4b8197a9866f02897fbe
sudo_deny_id=e4fcdd60972f4768ace9012fa6cef4f7
login_allow_id=bdbc6db5ebfa4a03a27caa34fbeb9b63
login_deny_id=4e4bf9fcf87144628e23eff6a0aff072

# timeout_ms in the harness's zsp.conf is 2000; process start-up, sudo's
# own work and journald get 1000 ms on top.
time_limit_ms=3000

hostile_pids=()
fault_cleanup() {
  local pid
  for pid in "${hostile_pids[@]}"; do kill "$pid" 2>/dev/null; done
  zsp_cleanup
}
trap fault_cleanup EXIT

# start_hostile MODE [CERT]: starts a hostile broker and sets HOSTILE_PORT.
start_hostile() {
  local out="$ZSP_TMP/hostile.$RANDOM.port"
  "$ZSP_BUILD/hostile_broker" --broker-dir "$ZSP_BROKER_DIR" --mode "$1" \
    --cert "${2:-good}" >"$out" 2>>"$ZSP_TMP/hostile.log" &
  hostile_pids+=($!)
  HOSTILE_PORT=
  for _ in $(seq 100); do
    [ -s "$out" ] && break
    sleep 0.05
  done
  HOSTILE_PORT=$(cat "$out")
  [ -n "$HOSTILE_PORT" ] || echo "hostile_broker $1 did not start" >&2
}

stop_hostile() {
  kill "${hostile_pids[-1]}" 2>/dev/null
  wait "${hostile_pids[-1]}" 2>/dev/null
  unset 'hostile_pids[-1]'
}

pam() {
  pamtester -I rhost=192.0.2.7 zsp-test "$@"
}

# journal_cursor: the number of journal entries so far. journalctl 252
# returns nothing for --after-cursor combined with a field match, so the
# records after this point are counted by position instead.
journal_cursor() {
  zsp_journal_json | wc -l
}

# journal_since CURSOR: the journal entries after CURSOR, one JSON per line.
journal_since() {
  zsp_journal_json | tail -n "+$(($1 + 1))"
}

# expect_one_record NAME CURSOR MESSAGE_ID REASON: exactly one record with
# MESSAGE_ID after CURSOR, no allow record, and the reason in ZSP_REASON.
expect_one_record() {
  local name=$1 cursor=$2 id=$3 reason=$4 records count
  records=$(journal_since "$cursor" | grep -F "\"MESSAGE_ID\":\"$id\"")
  count=$(printf '%s' "$records" | grep -c '"ZSP_DECISION"')
  expect_equal "$name: one journal record" "$count" 1
  OUT=$(printf '%s' "$records" | grep -o '"ZSP_REASON":"[^"]*"')
  expect_output "$name: journal reason" "$reason"
  OUT=$(journal_since "$cursor" | grep -F '"ZSP_DECISION":"allow"')
  expect_no_output "$name: no allow record" '"ZSP_DECISION"'
}

# deny_case NAME SUDO_TEXT PAM_TEXT REASON: runs sudo and pam_zsp's account
# phase under the current fault and checks both deny in time, with one
# journal record whose ZSP_REASON contains REASON.
deny_case() {
  local name=$1 sudo_text=$2 pam_text=$3 reason=$4 cursor
  cursor=$(journal_cursor)
  run as_user alice sudo -n id
  expect_fail "$name: sudo denied"
  expect_no_output "$name: sudo command did not run" "uid=0"
  expect_output "$name: sudo message" "$sudo_text"
  expect_faster "$name: sudo within deadline" "$time_limit_ms"
  expect_one_record "$name: sudo" "$cursor" "$sudo_deny_id" "$reason"

  cursor=$(journal_cursor)
  run pam alice acct_mgmt
  expect_fail "$name: pam denied"
  expect_output "$name: pam code" "$pam_text"
  expect_faster "$name: pam within deadline" "$time_limit_ms"
  expect_one_record "$name: pam" "$cursor" "$login_deny_id" "$reason"
}

# allow_case NAME: both sudo and pam_zsp allow (controls and failover).
allow_case() {
  run as_user alice sudo -n id
  expect_status "$1: sudo allowed" 0
  expect_output "$1: sudo command ran" "uid=0(root)"
  expect_faster "$1: sudo within deadline" "$time_limit_ms"
  run pam alice acct_mgmt
  expect_status "$1: pam allowed" 0
  expect_faster "$1: pam within deadline" "$time_limit_ms"
}

unreachable="could not be reached"
unverified="failed verification"
authinfo="cannot retrieve authentication info"
bad_config="configuration is invalid"
service_err="Error in service module"

zsp_grant_sudo alice bob /usr/bin/id >/dev/null || fail "setup" "sudo grant"
login_id=$(zspctl_as alice request --host "$ZSP_HOST" --login --duration 1h \
  --reason "fault test" --quiet) && zspctl_as bob approve "$login_id" >/dev/null ||
  fail "setup" "login grant"
allow_case "control: real broker"

# --- transport ---
closed_port=$(( (RANDOM % 1000) + 41000 ))
zsp_write_config "https://127.0.0.1:$closed_port"
deny_case "refused" "$unreachable" "$authinfo" "broker unavailable"

# Packets to 10.99.0.0/24 go to lo, whose stack drops them: nothing answers.
ip route add 10.99.0.0/24 dev lo
zsp_write_config "https://10.99.0.2:443"
deny_case "dropped" "$unreachable" "$authinfo" "timed out"

start_hostile silent
zsp_write_config "https://127.0.0.1:$HOSTILE_PORT"
deny_case "accepts but never speaks" "$unreachable" "$authinfo" "timed out"
stop_hostile

for mode in stall-handshake stall-headers trickle; do
  start_hostile "$mode"
  zsp_write_config "https://127.0.0.1:$HOSTILE_PORT"
  deny_case "$mode" "$unreachable" "$authinfo" "timed out"
  stop_hostile
done

start_hostile close-mid-body
zsp_write_config "https://127.0.0.1:$HOSTILE_PORT"
deny_case "close-mid-body" "$unreachable" "$authinfo" "broker unavailable"
stop_hostile

# --- DNS, with this namespace's own resolv.conf ---
rm -f /etc/resolv.conf
echo "nameserver 127.0.0.1" >/etc/resolv.conf
zsp_write_config "https://broker.zsp-fault.test:443"
deny_case "dns: name not resolved" "$unreachable" "$authinfo" \
  "resolve host"

start_hostile dns-silent
deny_case "dns: resolver never answers" "$unreachable" "$authinfo" \
  "broker unavailable"
stop_hostile

# --- TLS certificates; the broker behind them would allow ---
cert_case() {
  local cert=$1 host=$2
  start_hostile allow "$cert"
  zsp_write_config "https://$host:$HOSTILE_PORT"
  deny_case "certificate $cert" "$unreachable" "$authinfo" "$3"
  stop_hostile
}
cert_case self-signed 127.0.0.1 "self-signed certificate"
cert_case wrong-name localhost "no alternative certificate subject name"
cert_case expired 127.0.0.1 "certificate has expired"
cert_case not-yet-valid 127.0.0.1 "certificate is not yet valid"
cert_case wrong-ca 127.0.0.1 "unable to get local issuer certificate"
cert_case no-ip-san 127.0.0.1 "127.0.0.1"

# --- HTTP and the response body ---
for status in 302 404 429 500 503; do
  start_hostile "status-$status"
  zsp_write_config "https://127.0.0.1:$HOSTILE_PORT"
  deny_case "HTTP $status" "$unreachable" "$authinfo" \
    "broker answered HTTP $status"
  stop_hostile
done

# A client error means the broker understood and refused the question:
# the user is told so, not that the broker is down.
for status in 401 403; do
  start_hostile "status-$status"
  zsp_write_config "https://127.0.0.1:$HOSTILE_PORT"
  deny_case "HTTP $status" "rejected the request" "$authinfo" \
    "broker rejected the request with HTTP $status"
  stop_hostile
done

for mode in size-1m size-100m; do
  start_hostile "$mode"
  zsp_write_config "https://127.0.0.1:$HOSTILE_PORT"
  deny_case "body $mode" "$unreachable" "$authinfo" "larger than"
  stop_hostile
done

body_case() {
  start_hostile "$1"
  zsp_write_config "https://127.0.0.1:$HOSTILE_PORT"
  deny_case "body $1" "$unverified" "$authinfo" "$2"
  stop_hostile
}
body_case empty "not a JSON object"
body_case nested "not a JSON object"
body_case duplicate-key "not a JSON object"
body_case wrong-type "no jws string"
body_case nul "not a JSON object"

# --- signed answers; the hostile broker holds the real decision key ---
start_hostile allow
zsp_write_config "https://127.0.0.1:$HOSTILE_PORT"
allow_case "control: hostile broker signs a correct allow"
stop_hostile

signed_case() {
  start_hostile "$1"
  zsp_write_config "https://127.0.0.1:$HOSTILE_PORT" "clock_skew = 30"
  deny_case "signed $1" "${3:-$unverified}" "$authinfo" "$2"
  stop_hostile
}
clock="failed verification: its time does not match this host's clock"
signed_case bad-signature "signature"
signed_case unknown-key "unknown key id"
signed_case other-user "wrong user"
signed_case other-host "wrong host"
signed_case other-scope "wrong kind"
signed_case expired "decision expired" "$clock"
signed_case not-yet-valid "issued in the future" "$clock"
signed_case skew "issued in the future" "$clock"

# A replayed allow: the first answer for each (user, kind) is fresh and
# allowed, later answers repeat it word for word.
start_hostile replay
zsp_write_config "https://127.0.0.1:$HOSTILE_PORT"
allow_case "replay: recorded exchange"
deny_case "replay: repeated answer" "$unverified" "$authinfo" "replay"
stop_hostile

# --- several brokers in one deadline ---
# failover_config URL...: one broker_url line per URL.
failover_config() {
  local first=$1 extra="" url
  shift
  for url in "$@"; do extra+="broker_url = $url"$'\n'; done
  zsp_write_config "$first" "$extra"
}

failover_config "https://127.0.0.1:$closed_port" "$ZSP_BROKER_URL"
allow_case "failover: refused then healthy"

start_hostile silent
silent_port=$HOSTILE_PORT
failover_config "https://127.0.0.1:$silent_port" "$ZSP_BROKER_URL"
allow_case "failover: silent then healthy"

failover_config "https://127.0.0.1:$silent_port" \
  "https://127.0.0.1:$silent_port" "$ZSP_BROKER_URL"
deny_case "failover: deadline covers all brokers" "$unreachable" \
  "$authinfo" "timeout_ms used up"

start_hostile status-503
failover_config "https://127.0.0.1:$HOSTILE_PORT" "$ZSP_BROKER_URL"
allow_case "failover: HTTP 503 then healthy"
stop_hostile

start_hostile deny
failover_config "https://127.0.0.1:$HOSTILE_PORT" "$ZSP_BROKER_URL"
run as_user alice sudo -n id
expect_fail "failover: signed deny is final for sudo"
expect_output "failover: deny text shown" "hostile broker denies"
run pam alice acct_mgmt
expect_fail "failover: signed deny is final for pam"
stop_hostile

start_hostile bad-signature
failover_config "https://127.0.0.1:$HOSTILE_PORT" "$ZSP_BROKER_URL"
deny_case "failover: invalid answer is final" "$unverified" "$authinfo" \
  "signature"
stop_hostile

# --- configuration file ---
config_case() {
  deny_case "config: $1" "$bad_config" "$service_err" "$2"
  zsp_write_config "$ZSP_BROKER_URL"
}
conf=/etc/zsp/zsp.conf

rm -f "$conf"
config_case "file missing" "$conf: No such file or directory"

rm -f "$conf"
mkdir "$conf"
config_case "a directory" "$conf is not a regular file"
rmdir "$conf"

rm -f "$conf"
mkfifo -m 600 "$conf"
config_case "a FIFO" "$conf is not a regular file"
rm -f "$conf"

zsp_write_config "$ZSP_BROKER_URL"
chown bob "$conf"
config_case "not owned by root" "$conf is not owned by root"

chmod 664 "$conf"
config_case "group writable" "$conf is writable by group or others"

mv "$conf" /etc/zsp/real.conf
ln -s /etc/zsp/real.conf "$conf"
config_case "a symlink" "cannot open $conf"
rm -f "$conf" /etc/zsp/real.conf

zsp_write_config "$ZSP_BROKER_URL" "timout_ms = 100"
config_case "misspelled key" "$conf:10: timout_ms: unknown setting"

zsp_write_config "$ZSP_BROKER_URL" "connect_timeout_ms = -5"
config_case "invalid value" "$conf:10: connect_timeout_ms: value must be"

zsp_write_config "$ZSP_BROKER_URL" "broker_url = http://127.0.0.1:1"
config_case "plain http URL" "$conf:10: broker_url: value must be"

zsp_write_config "$ZSP_BROKER_URL"
sed -i '/^broker_url/d' "$conf"
config_case "empty broker list" "$conf: missing setting broker_url"

allow_case "recovery: good configuration"

zsp_finish
