#!/bin/bash
# Broker decisions per second on the SQLite store next to the PostgreSQL
# store, in one run on this machine: the same broker directory, the same
# grant and the same load generator, first on SQLite, then on a PostgreSQL
# 15 cluster on loopback (TLS, verify-full, synchronous_commit on, no
# replica). Runs inside the namespaces of tests/lib/harness.sh.
#
# Environment (all optional):
#   ZSP_BENCH_SECONDS     length of each load phase (default 5)
#   ZSP_BENCH_OUT         file that gets a copy of the output
#                         (default build/bench/results-pg.txt)
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/pg.sh"
OUT=${ZSP_BENCH_OUT:-"$ZSP_BUILD/bench/results-pg.txt"}
if [ "${ZSP_IN_NAMESPACE:-}" != 1 ]; then
  mkdir -p "$(dirname "$OUT")"
  zsp_enter_namespace "$@" 2>&1 | tee "$OUT"
  exit "${PIPESTATUS[0]}"
fi
set -u

SECONDS_PER_PHASE=${ZSP_BENCH_SECONDS:-5}
TOOLS="$ZSP_BUILD/bench"
[ -x "$TOOLS/loadgen" ] ||
  { echo "bench: $TOOLS/loadgen is missing; build it with make bench" >&2; exit 1; }

fail() {
  echo "bench: $*" >&2
  exit 1
}

field() {
  local pair
  for pair in $2; do
    if [ "${pair%%=*}" = "$1" ]; then
      echo "${pair#*=}"
      return 0
    fi
  done
  return 1
}

loadgen() {
  "$TOOLS/loadgen" --url "$ZSP_BROKER_URL" --ca /etc/zsp/ca.pem \
    --cert /etc/zsp/host.pem --key /etc/zsp/host.key --user alice \
    --host "$ZSP_HOST" --command /usr/bin/true "$@"
}

# Prints one table row for the store named $1.
measure() {
  local closed paced half
  closed=$(loadgen --threads 2 --seconds "$SECONDS_PER_PHASE") ||
    fail "load on $1 failed: $closed"
  half=$(awk -v r="$(field rate_per_s "$closed")" \
    'BEGIN { printf "%.0f", r / 2 }')
  paced=$(loadgen --threads 2 --seconds "$SECONDS_PER_PHASE" --rate "$half") ||
    fail "paced load on $1 failed: $paced"
  printf '%-12s %13s %14s %14s\n' "$1" "$(field rate_per_s "$closed")" \
    "$(field p50_ms "$paced")" "$(field p99_ms "$paced")"
}

zsp_private_system || exit 1
trap 'zsp_pg_stop_all; zsp_cleanup' EXIT
zsp_add_users alice bob
zsp_start_broker alice bob:approver || fail "broker did not start"
zsp_install_host
zsp_grant_sudo alice bob /usr/bin/true 8h >/dev/null ||
  fail "could not grant sudo to alice on SQLite"

echo "== broker decisions by store, 2 client threads, ${SECONDS_PER_PHASE}s per phase"
echo "cpus: $(nproc); p50 and p99 at half the closed-loop rate"
printf '%-12s %13s %14s %14s\n' "store" "decisions/s" "p50 ms" "p99 ms"
measure sqlite

zsp_pg_setup || fail "PostgreSQL set-up failed"
zsp_pg_init bench 55432 || fail "PostgreSQL did not start"
kill "$ZSP_BROKER_PID"
wait "$ZSP_BROKER_PID" 2>/dev/null
echo "store = $ZSP_PG_URI" >>"$ZSP_BROKER_DIR/broker.conf"
for who in alice bob; do
  role=()
  [ "$who" = bob ] && role=(--role approver)
  token=$("$ZSP_BUILD/zsp-broker" user add "$ZSP_BROKER_DIR" "$who" \
    "${role[@]}") || fail "user add on PostgreSQL failed"
  printf -v "ZSP_TOKEN_$who" '%s' "$token"
done
: >"$ZSP_TMP/broker.log"
"$ZSP_BUILD/zsp-broker" serve "$ZSP_BROKER_DIR" --listen 127.0.0.1:0 \
  2>"$ZSP_TMP/broker.log" &
ZSP_BROKER_PID=$!
for _ in $(seq 200); do
  line=$(grep -m1 'listening on' "$ZSP_TMP/broker.log" 2>/dev/null || true)
  [ -n "$line" ] && break
  sleep 0.05
done
[ -n "$line" ] || fail "broker on PostgreSQL did not start"
ZSP_BROKER_URL=${line##* }
zsp_write_config "$ZSP_BROKER_URL"
zsp_grant_sudo alice bob /usr/bin/true 8h >/dev/null ||
  fail "could not grant sudo to alice on PostgreSQL"
measure postgresql
