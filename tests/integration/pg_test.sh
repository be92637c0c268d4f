#!/bin/bash
# Three zsp-broker instances on one PostgreSQL store. alice files 2,000
# sudo requests that each need two approvals; bob, dave and erin each
# approve every request, spread over all three instances at once, while
# alice tries to approve her own. The database must end with exactly 2,000
# grants, two approvals per request, no self-approval and one "approved"
# event per request. A long poll on one instance must wake as soon as
# approvals land on the others (LISTEN/NOTIFY).
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/pg_brokers.sh"
zsp_enter_namespace "$@"

REQUESTS=${ZSP_PG_REQUESTS:-2000}

zsp_private_system || exit 1
trap 'zsp_pg_broker_stop_all; zsp_pg_stop_all; zsp_cleanup' EXIT
zsp_pg_setup || exit 1
zsp_pg_init main 55432 || exit 1

ZSP_POLICY="$ZSP_TMP/policy.toml"
cat >"$ZSP_POLICY" <<'TOML'
[[entitlement]]
name = "load"
hosts = ["*"]
requesters = ["alice"]
runas = ["root"]
commands = ["/usr/bin/echo *"]
approvers = ["alice", "bob", "dave", "erin"]
approvals = 2
reason_required = false
TOML
zsp_pg_broker_dir "$ZSP_PG_URI" alice:approver bob:approver dave:approver \
  erin:approver || exit 1
for n in 1 2 3; do zsp_pg_broker_start "$n" || exit 1; done
urls=("$ZSP_BROKER_URL_1" "$ZSP_BROKER_URL_2" "$ZSP_BROKER_URL_3")

sql() { zsp_pg_sql 55432 "$1"; }

# --- file the requests, a third through each instance ---
for n in 0 1 2; do
  for ((i = n; i < REQUESTS; i += 3)); do
    zsp_api_call "$ZSP_TOKEN_alice" POST "${urls[$n]}/v1/requests" \
      "{\"host\":\"web-$i\",\"kind\":\"sudo\",\"runas\":[\"root\"],\"commands\":[\"/usr/bin/echo $i\"],\"duration\":3600,\"reason\":\"load $i\"}"
  done | sed 1d >"$ZSP_TMP/file-$n.curl"
  zsp_api_batch "$ZSP_TOKEN_alice" "$ZSP_TMP/file-$n.curl" \
    >"$ZSP_TMP/file-$n.out" 2>"$ZSP_TMP/file-$n.status" &
done
wait_start=$(date +%s)
wait $(jobs -p | tail -3)
filed=$(cat "$ZSP_TMP"/file-*.status | grep -c '^201 ')
expect_equal "file: every request created" "$filed" "$REQUESTS"
grep -ho '"id":"r-[0-9a-f]*"' "$ZSP_TMP"/file-*.out | cut -d'"' -f4 \
  | sort -u >"$ZSP_TMP/ids"
expect_equal "file: distinct ids" "$(wc -l <"$ZSP_TMP/ids")" "$REQUESTS"

# --- long poll on instance 1 while instances 2 and 3 approve ---
probe=$(head -1 "$ZSP_TMP/ids")
curl --no-progress-meter --cacert "$ZSP_BROKER_DIR/ca.pem" \
  -H "Authorization: Bearer $ZSP_TOKEN_alice" \
  "${urls[0]}/v1/requests/$probe?wait=10" >"$ZSP_TMP/poll.out" &
poll_pid=$!
sleep 1.2
curl --no-progress-meter --cacert "$ZSP_BROKER_DIR/ca.pem" -d "{}" \
  -H "Authorization: Bearer $ZSP_TOKEN_bob" \
  "${urls[1]}/v1/requests/$probe/approve" >/dev/null
approved_at=$(date +%s%N)
curl --no-progress-meter --cacert "$ZSP_BROKER_DIR/ca.pem" -d "{}" \
  -H "Authorization: Bearer $ZSP_TOKEN_dave" \
  "${urls[2]}/v1/requests/$probe/approve" >/dev/null
approved_at=$(date +%s%N)
wait "$poll_pid"
woke_ms=$((($(date +%s%N) - approved_at) / 1000000))
OUT=$(cat "$ZSP_TMP/poll.out")
expect_output "long poll: returns the approved request" '"state":"approved"'
if [ "$woke_ms" -lt 1000 ]; then
  pass "long poll: woke ${woke_ms} ms after approval on another instance"
else
  fail "long poll: wake-up across instances" "took ${woke_ms} ms"
fi
OUT=$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name =
  'zsp-broker' AND query LIKE 'LISTEN%'")
expect_equal "long poll: one LISTEN connection per instance" "$OUT" 3

# --- approve everything concurrently ---
approver_index=0
for who in bob dave erin; do
  token_var="ZSP_TOKEN_$who"
  i=0
  while read -r id; do
    url=${urls[$(((i + approver_index) % 3))]}
    zsp_api_call "${!token_var}" POST "$url/v1/requests/$id/approve" "{}"
    i=$((i + 1))
  done <"$ZSP_TMP/ids" | sed 1d >"$ZSP_TMP/approve-$who.curl"
  approver_index=$((approver_index + 1))
done
# alice tries her own requests, every tenth one.
i=0
while read -r id; do
  if ((i % 10 == 0)); then
    zsp_api_call "$ZSP_TOKEN_alice" POST \
      "${urls[$((i % 3))]}/v1/requests/$id/approve" "{}"
  fi
  i=$((i + 1))
done <"$ZSP_TMP/ids" | sed 1d >"$ZSP_TMP/approve-alice.curl"

start=$(date +%s%N)
pids=()
for who in bob dave erin alice; do
  zsp_api_batch "" "$ZSP_TMP/approve-$who.curl" >/dev/null \
    2>"$ZSP_TMP/approve-$who.status" &
  pids+=($!)
done
wait "${pids[@]}"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
echo "pg_test: $((REQUESTS * 3 + REQUESTS / 10)) approve calls in ${elapsed_ms} ms"

ok=$(cat "$ZSP_TMP"/approve-{bob,dave,erin}.status | grep -c '^200 ')
late=$(cat "$ZSP_TMP"/approve-{bob,dave,erin}.status | grep -c '^409 ')
other=$(cat "$ZSP_TMP"/approve-{bob,dave,erin}.status | grep -vc '^200 \|^409 ')
# The probe request had its two approvals before; bob and dave get 409 on
# it, erin too.
expect_equal "approve: exactly two accepted votes per request" "$ok" \
  $((REQUESTS * 2 - 2))
expect_equal "approve: every later vote is a conflict" "$late" \
  $((REQUESTS + 2))
expect_equal "approve: no other status" "$other" 0
self_forbidden=$(grep -c '^403 ' "$ZSP_TMP/approve-alice.status")
expect_equal "approve: every self-approval forbidden" "$self_forbidden" \
  $(((REQUESTS + 9) / 10))
for n in 1 2 3; do
  count=$(grep -c '^approved ' "$ZSP_TMP/broker-$n.log")
  if [ "$count" -gt 0 ]; then
    pass "approve: instance $n decided requests ($count)"
  else
    fail "approve: instance $n decided requests" "none in its log"
  fi
done

# --- the database's view ---
expect_equal "store: every request approved" \
  "$(sql "SELECT count(*) FROM requests WHERE state = 'approved'")" "$REQUESTS"
expect_equal "store: one grant per request" \
  "$(sql "SELECT count(*), count(DISTINCT request_id) FROM grants")" \
  "$REQUESTS|$REQUESTS"
expect_equal "store: two votes per request" \
  "$(sql "SELECT count(*) FROM (SELECT request_id FROM votes GROUP BY
    request_id HAVING count(*) <> 2) t")" 0
expect_equal "store: no self-vote" \
  "$(sql "SELECT count(*) FROM votes v JOIN requests r ON r.id =
    v.request_id WHERE v.voter = r.requester")" 0
expect_equal "store: one approved event per request" \
  "$(sql "SELECT count(*), count(DISTINCT request_id) FROM events WHERE
    event = 'approved'")" "$REQUESTS|$REQUESTS"
expect_equal "store: grants name two distinct approvers" \
  "$(sql "SELECT count(*) FROM grants WHERE approved_by NOT LIKE '%,%' OR
    approved_by LIKE '%alice%' OR split_part(approved_by, ',', 1) =
    split_part(approved_by, ',', 2)")" 0
expect_equal "store: grant windows start at the database's time" \
  "$(sql "SELECT count(*) FROM grants WHERE abs(starts_at -
    extract(epoch from now())) > 600")" 0

zsp_finish
