#!/bin/bash
# The store unit suites (BrokerStoreTest, AuditStoreTest) run against a
# real PostgreSQL 15 started by the test, over TLS with verify-full, plus
# the database's own guards checked with direct SQL: no self-vote, decided
# requests and revoked grants never change, one grant per request, no
# overlapping active grants of one scope, and a chained audit log.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/pg.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
trap 'zsp_pg_stop_all; zsp_cleanup' EXIT
zsp_pg_setup || exit 1
zsp_pg_init main 55432 || exit 1

for suite in "(anonymous namespace)::BrokerStoreTest" AuditStoreTest; do
  run env ZSP_TEST_POSTGRES="$ZSP_PG_URI" "$ZSP_BUILD/unit_tests" "$suite"
  expect_status "${suite##*:} on PostgreSQL passes" 0
  expect_output "${suite##*:} on PostgreSQL ran its tests" "unit: "
  expect_no_output "${suite##*:} on PostgreSQL ran more than zero" "unit: 0 passed"
done

# A store that the suites left behind; the guards below act on it directly.
sql() { zsp_pg_sql 55432 "$1" 2>&1; }

run sql "INSERT INTO requests (id, requester, host, kind, runas, commands,
  duration, reason, state, created_at) VALUES ('r-guard', 'alice', 'web-1',
  'sudo', '[\"root\"]', '[\"/usr/bin/id\"]', 3600, 'guard test', 'pending',
  1)"
expect_status "guard: request inserted" 0
run sql "INSERT INTO votes (request_id, voter, vote, at) VALUES ('r-guard',
  'alice', 'approve', 1)"
expect_output "guard: self-vote rejected by the database" \
  "nobody may vote on their own request"
run sql "INSERT INTO votes (request_id, voter, vote, at) VALUES ('r-guard',
  'Alice', 'approve', 1)"
expect_output "guard: self-vote in capitals rejected" \
  "nobody may vote on their own request"
run sql "INSERT INTO votes (request_id, voter, vote, at) VALUES ('r-guard',
  'bob', 'approve', 1)"
expect_status "guard: vote of another person accepted" 0
run sql "INSERT INTO votes (request_id, voter, vote, at) VALUES ('r-guard',
  'bob', 'approve', 2)"
expect_output "guard: second vote of one approver rejected" "votes_pkey"
run sql "UPDATE requests SET state = 'approved' WHERE id = 'r-guard'"
expect_output "guard: approved without a grant rejected" "check constraint"
run sql "UPDATE requests SET state = 'denied' WHERE id = 'r-guard'"
expect_status "guard: pending request can be decided" 0
run sql "UPDATE requests SET state = 'pending' WHERE id = 'r-guard'"
expect_output "guard: decided request never changes" \
  "a decided request never changes"
run sql "DELETE FROM votes"
expect_output "guard: votes are append-only" "votes is append-only"

scope=$(printf 'same-scope' | sha256sum | cut -d' ' -f1)
for n in 1 2 3; do
  sql "INSERT INTO requests (id, requester, host, kind, runas, commands,
    duration, reason, state, created_at) VALUES ('r-g$n', 'alice', 'web-1',
    'sudo', '[]', '[]', 3600, 'guard test', 'pending', 1)" >/dev/null
done
run sql "INSERT INTO grants (id, request_id, user_name, host, kind, runas,
  commands, approved_by, starts_at, expires_at, scope) VALUES ('g-1', 'r-g1',
  'alice', 'web-1', 'sudo', '[]', '[]', 'bob', 1000, 2000, '$scope')"
expect_status "guard: first grant of a scope inserted" 0
run sql "INSERT INTO grants (id, request_id, user_name, host, kind, runas,
  commands, approved_by, starts_at, expires_at, scope) VALUES ('g-2', 'r-g1',
  'alice', 'web-1', 'sudo', '[]', '[]', 'bob', 3000, 4000, 'other')"
expect_output "guard: second grant of one request rejected" \
  "grants_request_id_key"
run sql "INSERT INTO grants (id, request_id, user_name, host, kind, runas,
  commands, approved_by, starts_at, expires_at, scope) VALUES ('g-3', 'r-g2',
  'alice', 'web-1', 'sudo', '[]', '[]', 'bob', 1500, 2500, '$scope')"
expect_output "guard: overlapping grant of one scope rejected" \
  "grants_no_overlap"
run sql "INSERT INTO grants (id, request_id, user_name, host, kind, runas,
  commands, approved_by, starts_at, expires_at, scope) VALUES ('g-4', 'r-g3',
  'alice', 'web-1', 'sudo', '[]', '[]', 'bob', 2000, 3000, '$scope')"
expect_status "guard: grant after the first one ends accepted" 0
run sql "UPDATE grants SET revoked_at = 1200, revoked_by = 'bob' WHERE
  id = 'g-1'"
expect_status "guard: active grant can be revoked" 0
run sql "UPDATE grants SET revoked_at = NULL WHERE id = 'g-1'"
expect_output "guard: revoked grant never changes" "is revoked"
run sql "UPDATE grants SET expires_at = 9999 WHERE id = 'g-4'"
expect_output "guard: grant window never changes" \
  "only the revocation of grant"

genesis=0000000000000000000000000000000000000000000000000000000000000000
line1='{"seq":1,"prev":"'$genesis'"}'
hash1=$(printf '%s' "$line1" | sha256sum | cut -d' ' -f1)
run sql "INSERT INTO audit_records (host, seq, hash, prev, line, received_at)
  VALUES ('guard-host', 1, '$hash1', '$genesis', '$line1', 1)"
expect_status "audit guard: first record accepted" 0
line2='{"seq":2,"prev":"bad"}'
hash2=$(printf '%s' "$line2" | sha256sum | cut -d' ' -f1)
run sql "INSERT INTO audit_records (host, seq, hash, prev, line, received_at)
  VALUES ('guard-host', 2, '$hash2', 'bad', '$line2', 1)"
expect_output "audit guard: broken chain link rejected" \
  "does not link to the record before"
run sql "INSERT INTO audit_records (host, seq, hash, prev, line, received_at)
  VALUES ('guard-host', 2, '$hash1', '$hash1', '{\"seq\":2}', 1)"
expect_output "audit guard: wrong hash rejected" "does not match its hash"
line3='{"seq":3,"prev":"'$hash1'"}'
hash3=$(printf '%s' "$line3" | sha256sum | cut -d' ' -f1)
run sql "INSERT INTO audit_records (host, seq, hash, prev, line, received_at)
  VALUES ('guard-host', 3, '$hash3', '$hash1', '$line3', 1)"
expect_output "audit guard: gap rejected" "leaves a gap"
run sql "DELETE FROM audit_records WHERE host = 'guard-host'"
expect_output "audit guard: records are append-only" \
  "audit_records is append-only"

# Plain TCP without TLS is refused by pg_hba.conf (hostssl only).
plain_uri="postgresql://postgres@127.0.0.1:55432/zsp?sslmode=disable"
run env ZSP_TEST_POSTGRES="$plain_uri" "$ZSP_BUILD/unit_tests" \
  "(anonymous namespace)::BrokerStoreTest::PersonTokenLookup"
expect_fail "TLS: connection without TLS refused"

zsp_finish
