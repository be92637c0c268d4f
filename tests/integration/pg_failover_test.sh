#!/bin/bash
# Failover of the PostgreSQL store under two broker instances. A primary
# with one synchronous streaming replica serves both instances through a
# multi-host URI (target_session_attrs=read-write, TLS verify-full). The
# test checks that:
# - a sudo decision through the real sudo plugin still reads while the
#   lone synchronous standby is down, and a write that cannot commit
#   fails within the broker's deadline instead of hanging;
# - after the primary is killed and the replica promoted, the brokers
#   serve again within seconds, and no approval or audit record that a
#   broker acknowledged is missing;
# - a host with two broker_url lines rides through losing one instance.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/pg_brokers.sh"
zsp_enter_namespace "$@"

PRIMARY=55432
STANDBY=55433

zsp_private_system || exit 1
trap 'zsp_pg_broker_stop_all; zsp_pg_stop_all; zsp_cleanup' EXIT
zsp_add_users alice bob dave
zsp_pg_setup || exit 1
zsp_pg_init primary "$PRIMARY" || exit 1
zsp_pg_standby "$PRIMARY" standby "$STANDBY" || exit 1
zsp_pg_sql "$PRIMARY" "ALTER SYSTEM SET synchronous_standby_names = 'standby'" \
  >/dev/null
zsp_pg_sql "$PRIMARY" "SELECT pg_reload_conf()" >/dev/null
for i in $(seq 100); do
  state=$(zsp_pg_sql "$PRIMARY" "SELECT sync_state FROM pg_stat_replication
    WHERE application_name = 'standby'")
  [ "$state" = sync ] && break
  sleep 0.1
done
expect_equal "setup: standby replicates synchronously" "$state" sync

uri="postgresql://postgres@127.0.0.1:$PRIMARY,127.0.0.1:$STANDBY/zsp?sslmode=verify-full&sslrootcert=$ZSP_PG_CA&target_session_attrs=read-write"
ZSP_POLICY="$ZSP_TMP/policy.toml"
cat >"$ZSP_POLICY" <<'TOML'
[[entitlement]]
name = "ops"
hosts = ["*"]
requesters = ["alice"]
runas = ["root"]
commands = ["/usr/bin/id", "/usr/bin/echo *"]
approvers = ["bob", "dave"]
approvals = 2
reason_required = false
TOML
zsp_pg_broker_dir "$uri" alice bob:approver dave:approver || exit 1
zsp_pg_broker_start 1 || exit 1
zsp_pg_broker_start 2 || exit 1
urls=("$ZSP_BROKER_URL_1" "$ZSP_BROKER_URL_2")
ZSP_BROKER_URL=$ZSP_BROKER_URL_1
zsp_install_host "$ZSP_BROKER_URL_1"
zsp_write_config "$ZSP_BROKER_URL_1" "broker_url = $ZSP_BROKER_URL_2"

api() {  # api WHO METHOD URL [BODY]: prints the HTTP status, body to $ZSP_TMP/api.out
  local var="ZSP_TOKEN_$1"
  curl --no-progress-meter --max-time 20 --cacert "$ZSP_BROKER_DIR/ca.pem" \
    -H "Authorization: Bearer ${!var}" -X "$2" \
    ${4:+-H "Content-Type: application/json" -d "$4"} \
    -o "$ZSP_TMP/api.out" -w '%{http_code}' "$3"
}

# file_and_approve N BROKER: files request N on one instance, approves it
# through both; prints the request id when both approvals were
# acknowledged (HTTP 200).
file_and_approve() {
  local n=$1 b=$2 status id
  status=$(api alice POST "${urls[$b]}/v1/requests" \
    "{\"host\":\"$ZSP_HOST\",\"kind\":\"sudo\",\"runas\":[\"root\"],\"commands\":[\"/usr/bin/echo $n\"],\"duration\":3600,\"reason\":\"failover $n\"}")
  [ "$status" = 201 ] || return 1
  id=$(jq -r .id "$ZSP_TMP/api.out")
  status=$(api bob POST "${urls[$b]}/v1/requests/$id/approve" '{}')
  [ "$status" = 200 ] || return 1
  status=$(api dave POST "${urls[$((1 - b))]}/v1/requests/$id/approve" '{}')
  [ "$status" = 200 ] || return 1
  echo "$id"
}

# Audit records of a fake host chain, delivered with the host certificate.
audit_prev=0000000000000000000000000000000000000000000000000000000000000000
audit_seq=0
send_audit() {  # send_audit BROKER: sends the next record; 0 when stored
  local next=$((audit_seq + 1)) line body status
  line="{\"seq\":$next,\"prev\":\"$audit_prev\",\"time\":$(date +%s),\"MESSAGE\":\"failover test\"}"
  body=$(jq -cn --arg l "$line" '{records: [$l]}')
  status=$(curl --no-progress-meter --max-time 20 \
    --cacert "$ZSP_BROKER_DIR/ca.pem" \
    --cert "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.pem" \
    --key "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.key" \
    -H "Content-Type: application/json" -d "$body" -o /dev/null \
    -w '%{http_code}' "${urls[$1]}/v1/audit/records")
  [ "$status" = 200 ] || return 1
  audit_seq=$next
  audit_prev=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
}

# --- a grant for alice and real sudo through it ---
grant_request=$(file_and_approve 0 0)
expect_equal "setup: grant approved through both instances" \
  "$(zsp_pg_sql "$PRIMARY" "SELECT state FROM requests WHERE id =
    '$grant_request'")" approved
run as_user alice sudo -n /usr/bin/echo 0
expect_status "sudo: allowed under the grant" 0

# --- the lone synchronous standby dies ---
zsp_pg_stop standby immediate
run as_user alice sudo -n /usr/bin/echo 0
expect_status "standby down: decisions still read the primary" 0
start=$(date +%s%N)
status=$(api alice POST "${urls[0]}/v1/requests" \
  "{\"host\":\"$ZSP_HOST\",\"kind\":\"sudo\",\"runas\":[\"root\"],\"commands\":[\"/usr/bin/echo blocked\"],\"duration\":3600,\"reason\":\"blocked\"}")
took=$((($(date +%s%N) - start) / 1000000))
expect_equal "standby down: a write that cannot commit fails" "$status" 500
if [ "$took" -lt 12000 ]; then
  pass "standby down: the failing write ends within the deadline (${took} ms)"
else
  fail "standby down: deadline" "took ${took} ms"
fi
zsp_pg_start standby || exit 1
for i in $(seq 100); do
  state=$(zsp_pg_sql "$PRIMARY" "SELECT sync_state FROM pg_stat_replication
    WHERE application_name = 'standby'")
  [ "$state" = sync ] && break
  sleep 0.1
done
expect_equal "standby back: replicates synchronously again" "$state" sync

# --- writes under way when the primary dies ---
: >"$ZSP_TMP/acked"
(
  n=1
  while [ ! -e "$ZSP_TMP/stop" ]; do
    id=$(file_and_approve "$n" $((n % 2))) && echo "$id" >>"$ZSP_TMP/acked"
    n=$((n + 1))
  done
) &
writer=$!
: >"$ZSP_TMP/audit-acked"
(
  while [ ! -e "$ZSP_TMP/stop" ]; do
    send_audit $((audit_seq % 2)) && echo "$audit_seq" >"$ZSP_TMP/audit-acked"
  done
) &
auditor=$!
sleep 3
before=$(wc -l <"$ZSP_TMP/acked")
zsp_pg_stop primary immediate
killed_at=$(date +%s%N)
zsp_as_promote() {
  zsp_pg_as "$ZSP_PG_BIN/pg_ctl" -D "$ZSP_PG_DIR/standby" -w promote \
    >/dev/null
}
zsp_as_promote
recovered_ms=""
for i in $(seq 200); do
  status=$(api alice GET "${urls[1]}/v1/requests?mine=1")
  if [ "$status" = 200 ] && [ "$(wc -l <"$ZSP_TMP/acked")" -gt "$before" ]; then
    recovered_ms=$((($(date +%s%N) - killed_at) / 1000000))
    break
  fi
  sleep 0.1
done
sleep 2
touch "$ZSP_TMP/stop"
wait "$writer" "$auditor"
if [ -n "$recovered_ms" ] && [ "$recovered_ms" -lt 10000 ]; then
  pass "failover: approvals acknowledged again ${recovered_ms} ms after the primary died"
else
  fail "failover: brokers serve again" "no acknowledged approval within 20 s"
fi

acked=$(sort -u "$ZSP_TMP/acked" | wc -l)
if [ "$acked" -gt "$before" ] && [ "$before" -gt 0 ]; then
  pass "failover: approvals acknowledged before ($before) and after ($acked)"
else
  fail "failover: approvals acknowledged on both sides" "before $before, all $acked"
fi
missing=0
while read -r id; do
  state=$(zsp_pg_sql "$STANDBY" "SELECT state || ':' || (SELECT count(*)
    FROM votes WHERE request_id = '$id') FROM requests WHERE id = '$id'")
  [ "$state" = "approved:2" ] || missing=$((missing + 1))
done <"$ZSP_TMP/acked"
expect_equal "failover: no acknowledged approval lost" "$missing" 0
audit_acked=$(cat "$ZSP_TMP/audit-acked")
stored=$(zsp_pg_sql "$STANDBY" "SELECT coalesce(max(seq), 0) FROM
  audit_records WHERE host = '$ZSP_HOST'")
if [ -n "$audit_acked" ] && [ "$stored" -ge "$audit_acked" ]; then
  pass "failover: no acknowledged audit record lost ($stored stored, $audit_acked acknowledged)"
else
  fail "failover: audit records" "stored $stored, acknowledged $audit_acked"
fi
OUT=$(cat "$ZSP_TMP/broker-1.log" "$ZSP_TMP/broker-2.log")
expect_output "failover: brokers logged retries" "retry operation="

# --- one broker instance is lost; the host uses the other ---
run as_user alice sudo -n /usr/bin/echo 0
expect_status "sudo: allowed after failover" 0
zsp_pg_broker_stop 1
run as_user alice sudo -n /usr/bin/echo 0
expect_status "sudo: allowed with the first broker instance down" 0
expect_output "sudo: command ran" "0"
run as_user alice sudo -n /usr/bin/id
expect_fail "sudo: command outside the grant still denied"

zsp_finish
