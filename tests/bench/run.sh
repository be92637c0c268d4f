#!/bin/bash
# Benchmarks of zsp against the stock sudo and PAM set-up it replaces, all
# in one run on this machine, inside a private mount and network namespace
# from tests/lib/harness.sh. Prints each figure and, where there is a
# baseline, the ratio measured in the same run. docs/benchmarks.md records
# results and explains each section.
#
# Environment (all optional):
#   ZSP_BENCH_SUDO_RUNS   sudo runs per policy (default 200)
#   ZSP_BENCH_PAM_RUNS    pamtester runs per stack (default 200)
#   ZSP_BENCH_IDLE_RUNS   sudo runs per policy after a pause longer than
#                         the broker's keep-alive (default 10, 0 skips)
#   ZSP_BENCH_SECONDS     length of each broker load phase (default 5)
#   ZSP_BENCH_SPOOL       spool records appended and delivered (default 2000)
#   ZSP_BENCH_SCALES      stored grant and audit record counts for the
#                         scaling table (default "10000 100000 1000000")
#   ZSP_BENCH_OUT         file that gets a copy of the output
#                         (default build/bench/results.txt)
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/agent.sh"
OUT=${ZSP_BENCH_OUT:-"$ZSP_BUILD/bench/results.txt"}
# tee runs outside the namespace, so that the harness's cleanup, which
# waits for its own children, never waits for it.
if [ "${ZSP_IN_NAMESPACE:-}" != 1 ]; then
  mkdir -p "$(dirname "$OUT")"
  zsp_enter_namespace "$@" 2>&1 | tee "$OUT"
  exit "${PIPESTATUS[0]}"
fi
set -u

SUDO_RUNS=${ZSP_BENCH_SUDO_RUNS:-200}
PAM_RUNS=${ZSP_BENCH_PAM_RUNS:-200}
IDLE_RUNS=${ZSP_BENCH_IDLE_RUNS:-10}
# A pause longer than the broker's keep-alive timeout (kKeepAliveSeconds
# in broker/server.cc), so that the agent's connection has been closed.
IDLE_PAUSE=6
SECONDS_PER_PHASE=${ZSP_BENCH_SECONDS:-5}
SPOOL_RECORDS=${ZSP_BENCH_SPOOL:-2000}
SCALES=${ZSP_BENCH_SCALES:-"10000 100000 1000000"}
TOOLS="$ZSP_BUILD/bench"
# Runs are interleaved in batches of this size, so that load from other
# processes on the machine hits both sides of a comparison alike.
BATCH=10

for tool in bench_exec loadgen spool_bench; do
  if [ ! -x "$TOOLS/$tool" ]; then
    echo "bench: $TOOLS/$tool is missing; build it with make bench" >&2
    exit 1
  fi
done

fail() {
  echo "bench: $*" >&2
  exit 1
}

# Prints "median p95" of the numbers in file $1, one per line.
stats() {
  sort -n "$1" | awk '{ v[NR] = $1 }
    END { printf "%.2f %.2f\n", v[int(0.5 * (NR - 1) + 1.5)],
                                v[int(0.95 * (NR - 1) + 1.5)] }'
}

# Prints $1 / $2 with two decimals.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
}

# Prints the value of key $1 in a key=value line $2.
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

# --- set-up --------------------------------------------------------------

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || fail "broker did not start"
zsp_install_host
BENCH_DIR="$ZSP_TMP/bench"
install -d -m 777 "$BENCH_DIR"

zsp_grant_sudo alice bob /usr/bin/true 8h >/dev/null ||
  fail "could not grant sudo to alice"
zsp_grant_login alice bob 8h >/dev/null ||
  fail "could not grant a login to alice"

# zsp-agent relays decisions for the relay rows (decision_relay = agent).
# agent = off stays in zsp.conf, so it places no work, as in the other
# rows.
zsp_agent_cgroup_setup zsp-bench
trap 'zsp_agent_cleanup; zsp_cleanup' EXIT
zsp_write_config "$ZSP_BROKER_URL" "agent_cgroup = $ZSP_AGENT_SUBTREE"
zsp_start_agent || fail "zsp-agent did not start"
zsp_write_config "$ZSP_BROKER_URL"

echo "== machine"
echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpus:   $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- |
  sed 's/^ *//')"
echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "load:   $(uptime | sed 's/.*load average/load average/')"
echo "sudo:   $(sudo -V | head -1)"
echo "disk under the spool: $(df -T /var | awk 'NR == 2 { print $2 }')"
echo

# Restarts the broker on the same directory and points zsp.conf at it.
restart_broker() {
  kill "$ZSP_BROKER_PID"
  wait "$ZSP_BROKER_PID" 2>/dev/null
  # Emptied here, before the new broker starts, so that the loop below
  # cannot read the old broker's address.
  : >"$ZSP_TMP/broker.log"
  "$ZSP_BUILD/zsp-broker" serve "$ZSP_BROKER_DIR" --listen 127.0.0.1:0 \
    2>"$ZSP_TMP/broker.log" &
  ZSP_BROKER_PID=$!
  local i line
  for i in $(seq 200); do
    line=$(grep -m1 'listening on' "$ZSP_TMP/broker.log" 2>/dev/null || true)
    if [ -n "$line" ]; then
      ZSP_BROKER_URL=${line##* }
      zsp_write_config "$ZSP_BROKER_URL"
      return 0
    fi
    sleep 0.05
  done
  cat "$ZSP_TMP/broker.log" >&2
  fail "broker did not restart"
}

# Runs the load generator against the broker with the host's certificate.
loadgen() {
  "$TOOLS/loadgen" --url "$ZSP_BROKER_URL" --ca /etc/zsp/ca.pem \
    --cert /etc/zsp/host.pem --key /etc/zsp/host.key --user alice \
    --host "$ZSP_HOST" --command /usr/bin/true "$@"
}

# Prints a line "rss_mib=N peak_mib=N" for the broker process.
broker_memory() {
  awk '/^VmRSS/ { rss = $2 } /^VmHWM/ { hwm = $2 }
    END { printf "rss_mib=%.1f peak_mib=%.1f\n", rss / 1024, hwm / 1024 }' \
    "/proc/$ZSP_BROKER_PID/status"
}

# --- 1. sudo latency -----------------------------------------------------

use_zsp() {
  echo "Plugin sudo_zsp_policy $ZSP_BUILD/sudo_zsp.so conf=/etc/zsp/zsp.conf" \
    >/etc/sudo.conf
}
# sudo_zsp with a warm decision cache: each sudo after the first within
# 30 s reuses the signed decision without a broker round trip.
cache_on() { zsp_write_config "$ZSP_BROKER_URL" "decision_cache = 30s"; }
cache_off() { zsp_write_config "$ZSP_BROKER_URL"; }
# sudo_zsp asking through zsp-agent's kept-alive broker connection.
relay_on() { zsp_write_config "$ZSP_BROKER_URL" "decision_relay = agent"; }
use_sudoers() {
  # No Plugin line: sudo loads its default policy, sudoers.
  : >/etc/sudo.conf
}
echo 'alice ALL=(root) NOPASSWD: /usr/bin/true' >/etc/sudoers.d/zsp-bench
chmod 440 /etc/sudoers.d/zsp-bench

# Runs one batch of sudo as alice; appends times to $1, keeps the largest
# peak RSS in the variable named by $2.
sudo_batch() {
  local line rss
  line=$(as_user alice "$TOOLS/bench_exec" --times "$1" "$BATCH" \
    /usr/bin/sudo -n /usr/bin/true) || fail "sudo failed: $line"
  rss=$(field maxrss_kb "$line")
  if [ "$rss" -gt "${!2}" ]; then printf -v "$2" '%s' "$rss"; fi
}

echo "== 1. sudo -n true as a normal user ($SUDO_RUNS runs per policy)"
use_zsp
as_user alice sudo -n /usr/bin/true || fail "sudo through sudo_zsp failed"
relay_on
as_user alice sudo -n /usr/bin/true || fail "sudo through the relay failed"
path=$(zsp_journal_json SYSLOG_IDENTIFIER=sudo_zsp | tail -n1 | jq -r .ZSP_PATH)
[ "$path" = agent ] ||
  fail "the relayed sudo took the $path path; see $ZSP_TMP/agent.log"
cache_off
use_sudoers
as_user alice sudo -n /usr/bin/true || fail "sudo through sudoers failed"

zsp_rss=0
cached_rss=0
relay_rss=0
sudoers_rss=0
for _ in $(seq $((SUDO_RUNS / BATCH))); do
  use_zsp
  sudo_batch "$BENCH_DIR/sudo-zsp.txt" zsp_rss
  cache_on
  as_user alice sudo -n /usr/bin/true || fail "sudo with the cache failed"
  sudo_batch "$BENCH_DIR/sudo-cached.txt" cached_rss
  relay_on
  sudo_batch "$BENCH_DIR/sudo-relay.txt" relay_rss
  cache_off
  use_sudoers
  sudo_batch "$BENCH_DIR/sudo-sudoers.txt" sudoers_rss
done
use_zsp
read -r zsp_median zsp_p95 < <(stats "$BENCH_DIR/sudo-zsp.txt")
read -r cached_median cached_p95 < <(stats "$BENCH_DIR/sudo-cached.txt")
read -r relay_median relay_p95 < <(stats "$BENCH_DIR/sudo-relay.txt")
read -r base_median base_p95 < <(stats "$BENCH_DIR/sudo-sudoers.txt")
printf '%-34s %10s %10s\n' "" "median ms" "p95 ms"
printf '%-34s %10s %10s\n' "sudoers, NOPASSWD rule" "$base_median" "$base_p95"
printf '%-34s %10s %10s\n' "sudo_zsp, grant, broker over mTLS" \
  "$zsp_median" "$zsp_p95"
printf '%-34s %10s %10s\n' "sudo_zsp, decision cache warm" \
  "$cached_median" "$cached_p95"
printf '%-34s %10s %10s\n' "sudo_zsp, relayed by zsp-agent" \
  "$relay_median" "$relay_p95"
printf '%-34s %10s %10s\n' "ratio sudo_zsp / sudoers" \
  "$(ratio "$zsp_median" "$base_median")" "$(ratio "$zsp_p95" "$base_p95")"
printf '%-34s %10s %10s\n' "ratio cached sudo_zsp / sudoers" \
  "$(ratio "$cached_median" "$base_median")" \
  "$(ratio "$cached_p95" "$base_p95")"
printf '%-34s %10s %10s\n' "ratio relayed sudo_zsp / sudoers" \
  "$(ratio "$relay_median" "$base_median")" \
  "$(ratio "$relay_p95" "$base_p95")"
echo

# A sudo after a pause: the broker has closed the agent's idle kept-alive
# connection, so the relay opens a new one. Each run, sudoers included,
# follows its own pause, so that whatever a pause itself costs a process
# falls on both sides.
if [ "$IDLE_RUNS" -gt 0 ]; then
  echo "== 1b. sudo -n true after a ${IDLE_PAUSE}s pause ($IDLE_RUNS runs per policy)"
  for _ in $(seq "$IDLE_RUNS"); do
    use_sudoers
    sleep "$IDLE_PAUSE"
    line=$(as_user alice "$TOOLS/bench_exec" --times \
      "$BENCH_DIR/idle-sudoers.txt" 1 /usr/bin/sudo -n /usr/bin/true) ||
      fail "sudo failed: $line"
    use_zsp
    relay_on
    sleep "$IDLE_PAUSE"
    line=$(as_user alice "$TOOLS/bench_exec" --times \
      "$BENCH_DIR/idle-relay.txt" 1 /usr/bin/sudo -n /usr/bin/true) ||
      fail "sudo failed: $line"
    # A relay that failed would fall back to the direct path and be
    # timed as relayed.
    path=$(zsp_journal_json SYSLOG_IDENTIFIER=sudo_zsp | tail -n1 |
      jq -r .ZSP_PATH)
    [ "$path" = agent ] ||
      fail "a sudo after a pause took the $path path; see $ZSP_TMP/agent.log"
    cache_off
  done
  read -r idle_base_median idle_base_p95 < <(stats "$BENCH_DIR/idle-sudoers.txt")
  read -r idle_relay_median idle_relay_p95 < <(stats "$BENCH_DIR/idle-relay.txt")
  printf '%-34s %10s %10s\n' "" "median ms" "p95 ms"
  printf '%-34s %10s %10s\n' "sudoers, after a pause" "$idle_base_median" \
    "$idle_base_p95"
  printf '%-34s %10s %10s\n' "sudo_zsp relayed, after a pause" \
    "$idle_relay_median" "$idle_relay_p95"
  printf '%-34s %10s %10s\n' "ratio relayed / sudoers, paused" \
    "$(ratio "$idle_relay_median" "$idle_base_median")" \
    "$(ratio "$idle_relay_p95" "$idle_base_p95")"
  echo
fi

# --- 2. PAM account phase ------------------------------------------------

echo "account required pam_permit.so" >/etc/pam.d/zsp-bench-base
echo "account required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf" \
  >/etc/pam.d/zsp-bench-zsp
# pam_zsp is loaded but stops at once on a missing configuration file, so
# this stack shows what loading the module and its libraries costs.
cat >/etc/pam.d/zsp-bench-load <<PAM
account optional $ZSP_BUILD/pam_zsp.so conf=/nonexistent/zsp.conf
account required pam_permit.so
PAM

cat >/etc/pam.d/zsp-bench-cached <<PAM
account required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/cached.conf
PAM
cp /etc/zsp/zsp.conf /etc/zsp/cached.conf
echo "decision_cache = 30s" >>/etc/zsp/cached.conf
cat >/etc/pam.d/zsp-bench-relay <<PAM
account required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/relay.conf
PAM
cp /etc/zsp/zsp.conf /etc/zsp/relay.conf
echo "decision_relay = agent" >>/etc/zsp/relay.conf

pam_batch() {
  local line
  line=$("$TOOLS/bench_exec" --times "$BENCH_DIR/pam-$1.txt" "$BATCH" \
    /usr/bin/pamtester "zsp-bench-$1" alice acct_mgmt) ||
    fail "pamtester on zsp-bench-$1 failed: $line"
}

echo "== 2. PAM account phase, pamtester as root ($PAM_RUNS runs per stack)"
for _ in $(seq $((PAM_RUNS / BATCH))); do
  pam_batch base
  pam_batch zsp
  pam_batch load
  pam_batch cached
  pam_batch relay
done
read -r pam_base_median pam_base_p95 < <(stats "$BENCH_DIR/pam-base.txt")
read -r pam_zsp_median pam_zsp_p95 < <(stats "$BENCH_DIR/pam-zsp.txt")
read -r pam_load_median pam_load_p95 < <(stats "$BENCH_DIR/pam-load.txt")
read -r pam_cached_median pam_cached_p95 < <(stats "$BENCH_DIR/pam-cached.txt")
read -r pam_relay_median pam_relay_p95 < <(stats "$BENCH_DIR/pam-relay.txt")
printf '%-34s %10s %10s\n' "" "median ms" "p95 ms"
printf '%-34s %10s %10s\n' "pam_permit only" "$pam_base_median" \
  "$pam_base_p95"
printf '%-34s %10s %10s\n' "pam_zsp loaded, no configuration" \
  "$pam_load_median" "$pam_load_p95"
printf '%-34s %10s %10s\n' "pam_zsp, login grant" "$pam_zsp_median" \
  "$pam_zsp_p95"
printf '%-34s %10s %10s\n' "pam_zsp, decision cache warm" \
  "$pam_cached_median" "$pam_cached_p95"
printf '%-34s %10s %10s\n' "pam_zsp, relayed by zsp-agent" \
  "$pam_relay_median" "$pam_relay_p95"
printf '%-34s %10s\n' "added by pam_zsp (median)" \
  "$(awk -v a="$pam_zsp_median" -v b="$pam_base_median" \
    'BEGIN { printf "%.2f", a - b }')"
printf '%-34s %10s\n' "added with the cache (median)" \
  "$(awk -v a="$pam_cached_median" -v b="$pam_base_median" \
    'BEGIN { printf "%.2f", a - b }')"
printf '%-34s %10s\n' "added with the relay (median)" \
  "$(awk -v a="$pam_relay_median" -v b="$pam_base_median" \
    'BEGIN { printf "%.2f", a - b }')"
echo

# --- 3. broker throughput ------------------------------------------------

echo "== 3. broker decisions, 2 client threads, ${SECONDS_PER_PHASE}s per phase"
keepalive=$(loadgen --threads 2 --seconds "$SECONDS_PER_PHASE") ||
  fail "load generator failed: $keepalive"
max_rate=$(field rate_per_s "$keepalive")
half_rate=$(awk -v r="$max_rate" 'BEGIN { printf "%.0f", r / 2 }')
paced=$(loadgen --threads 2 --seconds "$SECONDS_PER_PHASE" \
  --rate "$half_rate") || fail "load generator failed: $paced"
fresh=$(loadgen --threads 2 --seconds "$SECONDS_PER_PHASE" \
  --new-connection) || fail "load generator failed: $fresh"
printf '%-40s %10s %9s %9s\n' "" "per second" "p50 ms" "p99 ms"
printf '%-40s %10s %9s %9s\n' "keep-alive, closed loop" "$max_rate" \
  "$(field p50_ms "$keepalive")" "$(field p99_ms "$keepalive")"
printf '%-40s %10s %9s %9s\n' "keep-alive, paced at half that rate" \
  "$(field rate_per_s "$paced")" "$(field p50_ms "$paced")" \
  "$(field p99_ms "$paced")"
printf '%-40s %10s %9s %9s\n' "new TLS connection per decision" \
  "$(field rate_per_s "$fresh")" "$(field p50_ms "$fresh")" \
  "$(field p99_ms "$fresh")"
echo "broker memory after the load: $(broker_memory)"
echo

# --- 4. audit spool and delivery -----------------------------------------

echo "== 4. audit spool append (fsync each) and delivery, $SPOOL_RECORDS records"
spool=/var/lib/zsp/bench-spool
spooled=$("$TOOLS/spool_bench" "$spool" "$SPOOL_RECORDS") ||
  fail "spool benchmark failed: $spooled"
echo "append: $spooled"
cp /etc/zsp/zsp.conf "$BENCH_DIR/flush.conf"
echo "spool_dir = $spool" >>"$BENCH_DIR/flush.conf"
start_ns=$(date +%s%N)
flushed=$("$ZSP_BUILD/zspctl" audit flush --conf "$BENCH_DIR/flush.conf") ||
  fail "zspctl audit flush failed: $flushed"
end_ns=$(date +%s%N)
flush_ms=$(((end_ns - start_ns) / 1000000))
echo "delivery: $flushed in $flush_ms ms," \
  "$(awk -v n="$SPOOL_RECORDS" -v ms="$flush_ms" \
    'BEGIN { printf "%.0f", n * 1000 / ms }') records/s"
echo

# --- 5. memory -----------------------------------------------------------

echo "== 5. memory"
printf '%-44s %8s\n' "" "MiB"
printf '%-44s %8s\n' "peak RSS of sudo tree, sudoers" \
  "$(awk -v k="$sudoers_rss" 'BEGIN { printf "%.1f", k / 1024 }')"
printf '%-44s %8s\n' "peak RSS of sudo tree, sudo_zsp" \
  "$(awk -v k="$zsp_rss" 'BEGIN { printf "%.1f", k / 1024 }')"
printf '%-44s %8s\n' "peak RSS of sudo tree, sudo_zsp cached" \
  "$(awk -v k="$cached_rss" 'BEGIN { printf "%.1f", k / 1024 }')"
printf '%-44s %8s\n' "peak RSS of sudo tree, sudo_zsp relayed" \
  "$(awk -v k="$relay_rss" 'BEGIN { printf "%.1f", k / 1024 }')"
printf '%-44s %8s\n' "added by sudo_zsp" \
  "$(awk -v a="$zsp_rss" -v b="$sudoers_rss" \
    'BEGIN { printf "%.1f", (a - b) / 1024 }')"
printf '%-44s %8s\n' "added by sudo_zsp with the cache" \
  "$(awk -v a="$cached_rss" -v b="$sudoers_rss" \
    'BEGIN { printf "%.1f", (a - b) / 1024 }')"
printf '%-44s %8s\n' "added by sudo_zsp relayed" \
  "$(awk -v a="$relay_rss" -v b="$sudoers_rss" \
    'BEGIN { printf "%.1f", (a - b) / 1024 }')"

# Adds rows to the broker's databases until grants and audit_records hold
# $1 rows each beyond those the benchmark made itself. The grants belong to
# 1,000 other users, so alice's decision still reads one grant; the audit
# records belong to another host.
now=$(date +%s)
seed_rows() {
  local want=$1 have
  have=$(sqlite3 "$ZSP_BROKER_DIR/broker.db" \
    "SELECT count(*) FROM grants WHERE id LIKE 'g-seed-%'")
  sqlite3 "$ZSP_BROKER_DIR/broker.db" <<SQL || fail "seeding grants failed"
WITH RECURSIVE n(i) AS (SELECT $have + 1 UNION ALL SELECT i + 1 FROM n
                        WHERE i < $want)
INSERT INTO grants (id, request_id, user, host, kind, runas, commands,
                    approved_by, starts_at, expires_at)
SELECT 'g-seed-' || i, 'r-seed-' || i, 'seed' || (i % 1000), 'host' || (i % 500),
       'sudo', 'root', '["/usr/bin/true"]', 'bob', $now - 7200,
       $now - 3600 + (i % 7200)
FROM n;
SQL
  sqlite3 "$ZSP_BROKER_DIR/audit.db" <<SQL || fail "seeding audit records failed"
WITH RECURSIVE n(i) AS (SELECT $have + 1 UNION ALL SELECT i + 1 FROM n
                        WHERE i < $want)
INSERT INTO audit_records (host, seq, hash, line, time, user, decision,
                           grant_id, message_id, received_at)
SELECT 'seedhost', i, printf('%064d', i),
       '{"seq":' || i || ',"ZSP_USER":"seed' || (i % 1000) ||
       '","ZSP_DECISION":"allow","ZSP_COMMAND":"/usr/bin/true"}',
       $now - i, 'seed' || (i % 1000), 'allow', 'g-seed-' || i,
       '34880e3274ec4b8197a9866f02897fbe', $now
FROM n;
SQL
}

seed_pending_requests() {
  sqlite3 "$ZSP_BROKER_DIR/broker.db" <<SQL || fail "seeding requests failed"
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO requests (id, requester, host, kind, runas, commands, duration,
                      reason, state, created_at)
SELECT 'r-pending-' || i, 'seed' || (i % 1000), 'host' || (i % 500), 'sudo',
       'root', '["/usr/bin/true"]', 3600, 'benchmark request', 'pending',
       $now
FROM n;
SQL
}

seed_pending_requests 10000
seed_rows 100000
restart_broker
loadgen --threads 2 --seconds 2 >/dev/null || fail "load after seeding failed"
zspctl_as bob list --state pending >/dev/null ||
  fail "listing pending requests failed"
printf '%-44s %8s\n' "broker, 10,000 pending and 100,000 grants" \
  "$(broker_memory | sed 's/rss_mib=\([^ ]*\) peak_mib=\(.*\)/\1 (peak \2)/')"
echo

# --- 6. scaling ----------------------------------------------------------

echo "== 6. broker against stored rows (grants and audit records)"
echo "closed loop: 2 threads back to back; p50 and p99: 1 thread at 50/s;"
echo "delivery: zspctl audit flush of 500 new records from the host's spool"
printf '%10s %13s %9s %9s %13s %11s\n' "rows" "decisions/s" "p50 ms" \
  "p99 ms" "delivery ms" "broker MiB"
for rows in $SCALES; do
  seed_rows "$rows"
  restart_broker
  cp /etc/zsp/zsp.conf "$BENCH_DIR/flush.conf"
  echo "spool_dir = $spool" >>"$BENCH_DIR/flush.conf"
  closed=$(loadgen --threads 2 --seconds "$SECONDS_PER_PHASE") ||
    fail "load at $rows rows failed: $closed"
  single=$(loadgen --threads 1 --seconds "$SECONDS_PER_PHASE" --rate 50) ||
    fail "paced load at $rows rows failed: $single"
  "$TOOLS/spool_bench" "$spool" 500 >/dev/null || fail "spool append failed"
  start_ns=$(date +%s%N)
  "$ZSP_BUILD/zspctl" audit flush --conf "$BENCH_DIR/flush.conf" \
    >/dev/null || fail "zspctl audit flush at $rows rows failed"
  end_ns=$(date +%s%N)
  printf '%10s %13s %9s %9s %13s %11s\n' "$rows" \
    "$(field rate_per_s "$closed")" "$(field p50_ms "$single")" \
    "$(field p99_ms "$single")" "$(((end_ns - start_ns) / 1000000))" \
    "$(field rss_mib "$(broker_memory)")"
done
echo

# --- 7. one user's past grants -------------------------------------------

# A decision reads every grant the user ever had for that kind, expired and
# revoked ones included, so its cost grows with the user's history.
seed_past_grants() {
  sqlite3 "$ZSP_BROKER_DIR/broker.db" <<SQL || fail "seeding past grants failed"
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT OR IGNORE INTO grants (id, request_id, user, host, kind, runas,
                              commands, approved_by, starts_at, expires_at)
SELECT 'g-past-' || i, 'r-past-' || i, 'alice', '$ZSP_HOST', 'sudo', 'root',
       '["/usr/bin/true"]', 'bob', $now - 7200 - i, $now - 3600 - i
FROM n;
SQL
}

echo "== 7. decision latency against the user's own past grants"
echo "1 thread at 50/s; alice's expired grants besides her active one"
printf '%10s %9s %9s\n' "past" "p50 ms" "p99 ms"
for past in 0 1000 10000; do
  [ "$past" -gt 0 ] && seed_past_grants "$past"
  restart_broker
  single=$(loadgen --threads 1 --seconds "$SECONDS_PER_PHASE" --rate 50) ||
    fail "paced load with $past past grants failed: $single"
  printf '%10s %9s %9s\n' "$past" "$(field p50_ms "$single")" \
    "$(field p99_ms "$single")"
done
echo
echo "load at the end: $(uptime | sed 's/.*load average/load average/')"
