#!/bin/bash
# Audit alerts on PostgreSQL when a COMMIT ends with an unknown outcome.
# The commit of a batch waits for a synchronous standby that does not
# exist, and the test cancels it, so the broker replays the batch and
# finds its records stored. The alert that the lost COMMIT stored must
# still be counted in /metrics and posted to the webhook once.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/pg_brokers.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
trap 'zsp_pg_broker_stop_all; zsp_pg_stop_all; zsp_cleanup' EXIT
zsp_add_users carol
zsp_pg_setup || exit 1
zsp_pg_init primary 55432 || exit 1
zsp_pg_broker_dir "$ZSP_PG_URI" carol:auditor || exit 1
zsp_start_webhook_receiver || exit 1
zsp_add_webhook auditors audit_alert
zsp_pg_broker_start 1 || exit 1
ZSP_BROKER_URL=$ZSP_BROKER_URL_1
sql() { zsp_pg_sql 55432 "$1"; }

# Three chained spool records; the second and third report a repair.
python3 - >"$ZSP_TMP/spool" <<'PYTHON'
import hashlib, json
repaired = {"MESSAGE_ID": "ad824d3cfa1543faaeccc4cecd77d996",
            "MESSAGE": "spool-repaired removed an incomplete last line"}
prev = "0" * 64
records = [{"MESSAGE": "first"}, dict(repaired, ZSP_REMOVED_BYTES="10"),
           dict(repaired, ZSP_REMOVED_BYTES="20")]
for seq, record in enumerate(records, 1):
    record.update(seq=seq, prev=prev, time=1800000000 + seq)
    line = json.dumps(record, sort_keys=True, separators=(",", ":"))
    print(line)
    prev = hashlib.sha256(line.encode()).hexdigest()
PYTHON

# Posts lines $1 to $2 of the spool as the host and prints the body and
# the HTTP status.
post_records() {
  sed -n "$1,$2p" "$ZSP_TMP/spool" | jq -R . | jq -s '{records: .}' |
    curl -s --max-time 60 -w ' %{http_code}' \
      --cacert "$ZSP_BROKER_DIR/ca.pem" \
      --cert "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.pem" \
      --key "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.key" \
      -H 'Content-Type: application/json' --data-binary @- \
      "$ZSP_BROKER_URL/v1/audit/records"
}

OUT=$(post_records 1 2)
expect_output "first batch: stored" '"stored":2'

# The next COMMIT waits for a standby named nosuch, until it is cancelled.
sql "ALTER SYSTEM SET synchronous_standby_names = 'nosuch'" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
for i in $(seq 50); do
  [ "$(sql "SHOW synchronous_standby_names")" = nosuch ] && break
  sleep 0.1
done
post_records 3 3 >"$ZSP_TMP/replayed" &
poster=$!
backend=
for i in $(seq 100); do
  backend=$(sql "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'
    LIMIT 1")
  [ -n "$backend" ] && break
  sleep 0.1
done
expect_equal "replay: a COMMIT waits for the standby" \
  "$([ -n "$backend" ] && echo waiting)" waiting
sql "SELECT pg_cancel_backend($backend)" >/dev/null
sql "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
wait "$poster"
OUT=$(cat "$ZSP_TMP/replayed")
expect_output "replay: batch accepted" " 200"
expect_output "replay: record found stored" '"duplicates":1'
OUT=$(cat "$ZSP_TMP/broker-1.log")
expect_output "replay: broker retried the unknown outcome" "outcome_unknown"

run zspctl_as carol --json audit alerts
expect_equal "replay: two alerts stored" \
  "$(jq -r '[.[] | select(.kind == "spool_repaired") | .seq] | join(" ")' \
    <<<"$OUT")" "2 3"
OUT=$(curl -s --cacert "$ZSP_BROKER_DIR/ca.pem" "$ZSP_BROKER_URL/metrics")
expect_output "replay: metric counts both alerts" \
  'zsp_broker_audit_alerts_total{kind="spool_repaired"} 2'
for i in $(seq 50); do
  [ "$(grep -c '^/hook audit_alert ' "$WEBHOOK_LOG" 2>/dev/null)" -ge 2 ] &&
    break
  sleep 0.1
done
sleep 0.5  # a third, duplicate post would arrive within this
posted=$(grep '^/hook audit_alert ' "$WEBHOOK_LOG" | cut -d' ' -f3- |
  jq -r .alert.seq | sort | tr '\n' ' ')
expect_equal "replay: each alert posted once" "$posted" "2 3 "

zsp_finish
