#!/bin/bash
# The audit trail end to end: the real sudo and libpam (through pamtester
# and pam_loop) write to the spool and a private journald, zspctl delivers
# the spool to the real broker over mutual TLS, and auditors query and
# verify it. Tampering is done the way an attacker would: with an editor on
# the spool and with the sqlite3 CLI on audit.db.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob carol
zsp_start_broker alice bob:approver carol:auditor || exit 1
zsp_install_host

SPOOL=/var/lib/zsp/spool
SPOOL_FILE=$SPOOL/audit.jsonl
spool_repaired_id=ad824d3cfa1543faaeccc4cecd77d996
AUDIT_KEY=$ZSP_BROKER_DIR/audit.pub
BROKER_PORT=${ZSP_BROKER_URL##*:}

spool_count() {
  if [ -f "$SPOOL_FILE" ]; then wc -l <"$SPOOL_FILE"; else echo 0; fi
}

# Runs zspctl as root on the host, the way the flush timer does.
host_zspctl() {
  "$ZSP_BUILD/zspctl" "$@"
}

stop_broker() {
  kill "$ZSP_BROKER_PID"
  wait "$ZSP_BROKER_PID" 2>/dev/null
  ZSP_BROKER_PID=
}

# Starts the broker again on its old port, so zsp.conf stays valid.
restart_broker() {
  "$ZSP_BUILD/zsp-broker" serve "$ZSP_BROKER_DIR" \
    --listen "127.0.0.1:$BROKER_PORT" 2>>"$ZSP_TMP/broker.log" &
  ZSP_BROKER_PID=$!
  local i
  for i in $(seq 100); do
    curl -s -o /dev/null --cacert "$ZSP_BROKER_DIR/ca.pem" \
      "$ZSP_BROKER_URL/" && return 0
    sleep 0.05
  done
  echo "audit_test: broker did not restart" >&2
  return 1
}

# Prints "seq" of every stored record of testhost, one a line, in the
# order the store returns them.
stored_seqs() {
  zspctl_as carol audit query --host "$ZSP_HOST" --format json |
    jq -r '.[].seq'
}

# --- flush as the timer runs it ---
run host_zspctl audit flush
expect_status "flush: empty spool succeeds" 0
expect_output "flush: empty spool reported" "nothing to deliver: the spool is empty"
run host_zspctl audit flush --conf /etc/zsp/missing.conf
expect_status "flush: missing config fails" 1
expect_output "flush: missing config named" "/etc/zsp/missing.conf"
run host_zspctl audit flush --bogus
expect_status "flush: unknown option is a usage error" 2

# The service's command line, with the installed path replaced by the build.
unit=$ZSP_ROOT/packaging/systemd/zsp-audit-flush.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
read -r -a flush_command <<<"${exec_start/\/usr\/bin\/zspctl/$ZSP_BUILD/zspctl}"
run "${flush_command[@]}"
expect_status "units: service command runs" 0
mkdir -p "$ZSP_TMP/units"
for suffix in service timer path; do
  sed "s|/usr/bin/zspctl|$ZSP_BUILD/zspctl|" \
    "$ZSP_ROOT/packaging/systemd/zsp-audit-flush.$suffix" \
    >"$ZSP_TMP/units/zsp-audit-flush.$suffix"
done
run systemd-analyze verify "$ZSP_TMP"/units/zsp-audit-flush.*
expect_status "units: systemd-analyze verify accepts them" 0
expect_no_output "units: no warnings" "zsp-audit-flush"

# The journal catalog, compiled as journalctl --update-catalog does on an
# installed host, explains every MESSAGE_ID that common/journal.cc and
# common/audit_spool.h send.
catalog_root=$ZSP_TMP/catalog-root
mkdir -p "$catalog_root/usr/lib/systemd/catalog"
cp "$ZSP_ROOT/packaging/zsp.catalog" "$catalog_root/usr/lib/systemd/catalog/"
run journalctl --root="$catalog_root" --update-catalog
expect_status "catalog: compiles" 0
catalog=$(journalctl --root="$catalog_root" --list-catalog 2>&1)
for id in $(grep -o '"[0-9a-f]\{32\}"' "$ZSP_ROOT/common/journal.cc" \
  "$ZSP_ROOT/common/audit_spool.h" | cut -d: -f2 |
  tr -d '"' | grep -v '^0*$'); do
  OUT=$catalog
  expect_output "catalog: explains $id" "$id zsp: "
done

# --- 1,000 decisions while the store is down ---
login_grant=$(zspctl_as alice request --host "$ZSP_HOST" --login \
  --duration 1h --reason "audit test" --quiet)
zspctl_as bob approve "$login_grant" >/dev/null
run pamtester zsp-test alice acct_mgmt
expect_status "setup: login allowed with a grant" 0
run host_zspctl audit flush
expect_status "flush: first delivery succeeds" 0
delivered_before=$(spool_count)

stop_broker
run pamtester zsp-test alice acct_mgmt
expect_fail "store down: login denied without the broker"
# Each pam_loop cycle makes an account and a session-open decision, both
# denied while the broker is down.
"$ZSP_BUILD/pam_loop" zsp-test alice 500 >"$ZSP_TMP/pam_loop.out" 2>&1
made=$(($(spool_count) - delivered_before))
if [ "$made" -ge 1000 ]; then pass "store down: 1000 decisions spooled"; else
  fail "store down: 1000 decisions spooled" "only $made records"
fi

run host_zspctl audit flush
expect_status "store down: flush fails" 1
expect_output "store down: flush names the cause" "audit store unreachable"
expect_output "store down: flush says records wait" \
  "records from $((delivered_before + 1)) wait in the spool"

restart_broker || exit 1
run host_zspctl audit flush
expect_status "store back: flush succeeds" 0
expect_output "store back: flush reports the range" \
  "delivered records $((delivered_before + 1)) to $(spool_count)"

total=$(spool_count)
seqs=$(stored_seqs)
expect_equal "store back: every record stored" "$(printf '%s\n' "$seqs" | wc -l)" "$total"
expect_equal "store back: in order, no duplicate" "$seqs" "$(seq 1 "$total")"
expect_equal "store back: lines identical to the spool" \
  "$(zspctl_as carol audit query --host "$ZSP_HOST" --format json | jq -r '.[].record | tojson' | sha256sum)" \
  "$(jq -c . "$SPOOL_FILE" | sha256sum)"
run zspctl_as carol audit verify --host "$ZSP_HOST" --audit-key "$AUDIT_KEY"
expect_status "store back: store chain verifies" 0
expect_output "store back: verify counts every record" "$total records"

run host_zspctl audit flush
expect_status "flush again: succeeds" 0
expect_output "flush again: nothing to deliver" "nothing to deliver"

# A spool that someone other than root could have written is not
# delivered, because its records may be forged.
stored_before=$(stored_seqs | wc -l)
run pamtester zsp-test alice acct_mgmt
chown alice "$SPOOL_FILE"
run host_zspctl audit flush
expect_status "spool owned by a user: flush fails" 1
expect_output "spool owned by a user: names the file" \
  "$SPOOL_FILE is not owned by root; nothing was delivered"
expect_output "spool owned by a user: says how to fix" \
  "chown root:root $SPOOL_FILE and chmod go= $SPOOL_FILE"
chown root "$SPOOL_FILE"
chmod 0750 "$SPOOL"
run host_zspctl audit flush
expect_status "spool open to group: flush fails" 1
expect_output "spool open to group: names the directory" \
  "$SPOOL is open to group or others; nothing was delivered"
expect_equal "open spool: nothing stored" "$(stored_seqs | wc -l)" "$stored_before"
chmod 0700 "$SPOOL"
run host_zspctl audit flush
expect_status "spool closed again: flush succeeds" 0
expect_equal "spool closed again: the new record stored" \
  "$(stored_seqs | wc -l)" "$((stored_before + 1))"
total=$(spool_count)

# A lost confirmation: the host resends everything, and the store keeps
# one copy of each record.
rm "$SPOOL/delivered"
run host_zspctl audit flush
expect_status "resend: flush succeeds" 0
expect_equal "resend: no duplicate stored" "$(stored_seqs | wc -l)" "$total"
run zspctl_as carol audit alerts
expect_output "resend: raises no alert" "no alerts"

# --- 20 concurrent writers ---
zsp_grant_sudo alice bob /usr/bin/true >/dev/null
# 20 TLS handshakes at once on a loaded 2-core machine can outlast the
# usual 2 s limit; this part tests the chain, not broker latency.
zsp_write_config "$ZSP_BROKER_URL" "connect_timeout_ms = 5000
timeout_ms = 15000"
before=$(spool_count)
pids=()
for i in $(seq 10); do
  (rc=0; for j in 1 2 3; do as_user alice sudo -n true || rc=1; done
    exit $rc) >"$ZSP_TMP/writer-sudo-$i.log" 2>&1 &
  pids+=($!)
  (rc=0; for j in 1 2 3; do pamtester zsp-test alice acct_mgmt || rc=1; done
    exit $rc) >"$ZSP_TMP/writer-pam-$i.log" 2>&1 &
  pids+=($!)
done
writers_failed=0
for pid in "${pids[@]}"; do wait "$pid" || writers_failed=$((writers_failed + 1)); done
OUT=$(cat "$ZSP_TMP"/writer-*.log)
expect_equal "concurrent: every writer allowed" "$writers_failed" 0
expect_equal "concurrent: 60 records appended" "$(($(spool_count) - before))" 60
zsp_write_config "$ZSP_BROKER_URL"
run host_zspctl audit verify --spool "$SPOOL_FILE"
expect_status "concurrent: spool chain verifies" 0
expect_output "concurrent: spool chain intact" "chain intact"
# The timer and the path unit may start flushes at the same moment; the
# delivery lock makes them take turns.
flush_pids=()
for i in 1 2 3; do
  host_zspctl audit flush >"$ZSP_TMP/flush-$i.log" 2>&1 &
  flush_pids+=($!)
done
flushes_failed=0
for pid in "${flush_pids[@]}"; do
  wait "$pid" || flushes_failed=$((flushes_failed + 1))
done
OUT=$(cat "$ZSP_TMP"/flush-*.log)
expect_equal "concurrent: parallel flushes succeed" "$flushes_failed" 0
expect_equal "concurrent: delivered once" "$(stored_seqs)" "$(seq 1 "$(spool_count)")"
run zspctl_as carol audit verify --host "$ZSP_HOST" --audit-key "$AUDIT_KEY"
expect_status "concurrent: store chain verifies" 0

# A webhook for audit alerts, to see the store raise one for the repair
# below.
zsp_start_webhook_receiver || exit 1
zsp_add_webhook auditors audit_alert
reloads=$(grep -c '^reload ' "$ZSP_TMP/broker.log")
kill -HUP "$ZSP_BROKER_PID"
for i in $(seq 50); do
  [ "$(grep -c '^reload ' "$ZSP_TMP/broker.log")" -gt "$reloads" ] && break
  sleep 0.1
done
expect_equal "webhook: policy reloaded" \
  "$(grep -c '^reload ' "$ZSP_TMP/broker.log")" $((reloads + 1))

# --- an incomplete last line, as a writer killed part way leaves it ---
# The invoking user may SIGKILL sudo in the middle of its spool write. The
# flush leaves that line alone, and the next decision removes it and
# records what it held before its own record.
before=$(spool_count)
torn="{\"seq\":$((before + 1)),\"ZSP_USER\":\"alice\",\"MESSAGE\":\"allo"
printf '%s' "$torn" >>"$SPOOL_FILE"
run host_zspctl audit flush
expect_status "torn line: flush succeeds" 0
expect_output "torn line: flush has nothing to deliver" "nothing to deliver"
run host_zspctl audit verify --spool "$SPOOL_FILE"
expect_status "torn line: spool verifies before the repair" 0
expect_output "torn line: verify notes the incomplete line" \
  "ends with an incomplete line of ${#torn} bytes"
run as_user alice sudo -n true
expect_status "torn line: next sudo allowed" 0
expect_equal "torn line: repair record and decision appended" \
  "$(spool_count)" $((before + 2))
repair=$(sed -n "$((before + 1))p" "$SPOOL_FILE")
expect_equal "torn line: repair record's MESSAGE_ID" \
  "$(jq -r .MESSAGE_ID <<<"$repair")" "$spool_repaired_id"
expect_equal "torn line: repair record gives the length" \
  "$(jq -r .ZSP_REMOVED_BYTES <<<"$repair")" "${#torn}"
expect_equal "torn line: repair record gives the hash" \
  "$(jq -r .ZSP_REMOVED_SHA256 <<<"$repair")" \
  "$(printf '%s' "$torn" | sha256sum | cut -d' ' -f1)"
expect_equal "torn line: the decision follows it" \
  "$(sed -n "$((before + 2))p" "$SPOOL_FILE" | jq -r .ZSP_DECISION)" allow
expect_equal "torn line: repair in the journal" \
  "$(zsp_journal_json MESSAGE_ID=$spool_repaired_id | tail -n1 |
    jq -r .ZSP_REMOVED_BYTES)" "${#torn}"
expect_equal "torn line: journal names the killed writer's user" \
  "$(zsp_journal_json MESSAGE_ID=$spool_repaired_id | tail -n1 |
    jq -r .ZSP_REMOVED_USER)" alice
run host_zspctl audit verify --spool "$SPOOL_FILE"
expect_output "torn line: spool chain intact" "chain intact"
expect_output "torn line: verify lists the repair" \
  "record $((before + 1)): spool-repaired, an incomplete line of ${#torn} bytes was removed (user alice)"
run host_zspctl audit flush
expect_status "torn line: repair delivered" 0
expect_equal "torn line: store has every record" "$(stored_seqs)" \
  "$(seq 1 "$(spool_count)")"
run zspctl_as carol audit query --host "$ZSP_HOST" --format csv
expect_output "torn line: query names the repair event" \
  "\"$ZSP_HOST\",\"$((before + 1))\",\"spool-repaired\""
run zspctl_as carol --json audit alerts --host "$ZSP_HOST"
expect_status "torn line: alerts listed" 0
expect_equal "torn line: store raised a spool_repaired alert" \
  "$(jq -r '.[] | select(.kind == "spool_repaired") | .seq' <<<"$OUT")" \
  $((before + 1))
expect_output "torn line: alert gives the length" ", ${#torn} bytes"
expect_output "torn line: alert names the user" "written for user alice"
for i in $(seq 50); do
  grep -q '^/hook audit_alert ' "$WEBHOOK_LOG" 2>/dev/null && break
  sleep 0.1
done
hook=$(grep '^/hook audit_alert ' "$WEBHOOK_LOG" | head -n1 | cut -d' ' -f3-)
expect_equal "torn line: webhook carries the alert's kind" \
  "$(jq -r .alert.kind <<<"$hook")" spool_repaired
expect_equal "torn line: webhook carries the alert's record" \
  "$(jq -r .alert.seq <<<"$hook")" $((before + 1))
expect_equal "torn line: webhook sent once" \
  "$(grep -c '^/hook audit_alert ' "$WEBHOOK_LOG")" 1

# --- a spool whose fields have other types than strings ---
# A tampered spool may hold any JSON; verify must still report on it.
python3 - >"$ZSP_TMP/typed.jsonl" <<PYTHON
import hashlib, json
prev = "0" * 64
records = [{"MESSAGE_ID": 5, "ZSP_USER": ["alice"]},
           {"MESSAGE_ID": "$spool_repaired_id", "ZSP_REMOVED_BYTES": 7,
            "ZSP_REMOVED_USER": {"name": "alice"}}]
for seq, record in enumerate(records, 1):
    record.update(seq=seq, prev=prev, time=1800000000)
    line = json.dumps(record, sort_keys=True, separators=(",", ":"))
    print(line)
    prev = hashlib.sha256(line.encode()).hexdigest()
PYTHON
run host_zspctl audit verify --spool "$ZSP_TMP/typed.jsonl"
expect_status "typed fields: verify succeeds" 0
expect_output "typed fields: chain intact" "2 records, last 2, chain intact"
expect_output "typed fields: repair noted without its length" \
  "record 2: spool-repaired, an incomplete line of ? bytes"

# --- query filters on the real store, checked against the spool ---
count_query() {
  zspctl_as carol audit query --host "$ZSP_HOST" "$@" --format json |
    jq length
}
count_spool() {
  jq -c "select($1)" "$SPOOL_FILE" | wc -l
}
expect_equal "query: by user and decision" \
  "$(count_query --user alice --decision deny)" \
  "$(count_spool '.ZSP_USER == "alice" and .ZSP_DECISION == "deny"')"
sudo_grant=$(jq -r 'select(.ZSP_KIND == "sudo" and .ZSP_GRANT) | .ZSP_GRANT' \
  "$SPOOL_FILE" | tail -n 1)
expect_equal "query: by grant" "$(count_query --grant "$sudo_grant")" \
  "$(count_spool ".ZSP_GRANT == \"$sudo_grant\"")"
since=$(sed -n '500p' "$SPOOL_FILE" | jq .time)
until=$((since + 1))
expect_equal "query: by time" "$(count_query --since "$since" --until "$until")" \
  "$(count_spool ".time >= $since and .time < $until")"
expect_equal "query: other host matches nothing" \
  "$(zspctl_as carol audit query --host otherhost --format json | jq length)" 0
run zspctl_as carol audit query --host "$ZSP_HOST" --grant "$sudo_grant" \
  --format csv
expect_status "query: CSV export" 0
expect_equal "query: CSV has a header and a line per record" \
  "$(printf '%s\n' "$OUT" | wc -l)" \
  "$(($(count_spool ".ZSP_GRANT == \"$sudo_grant\"") + 1))"
run zspctl_as alice audit query --host "$ZSP_HOST"
expect_fail "query: requester may not read the trail"
expect_output "query: requester told the role" "auditor or admin role"

OUT=$(journalctl --no-pager --since today ZSP_DECISION=deny -o json |
  jq -r .ZSP_DECISION | sort -u)
expect_equal "recipe: today's denials" "$OUT" deny
expect_equal "recipe: everything under one grant" \
  "$(journalctl --no-pager ZSP_GRANT="$sudo_grant" -o json | wc -l)" \
  "$(count_spool ".ZSP_GRANT == \"$sudo_grant\"")"

# --- spool tampering, each on a copy of the spool directory ---
total=$(spool_count)
tamper_copy() {
  rm -rf "$ZSP_TMP/tamper"
  cp -a "$SPOOL" "$ZSP_TMP/tamper"
  echo "$ZSP_TMP/tamper/audit.jsonl"
}

copy=$(tamper_copy)
sed -i '700s/"ZSP_USER":"alice"/"ZSP_USER":"bob"/' "$copy"
run host_zspctl audit verify --spool "$copy"
expect_fail "spool edit: detected"
expect_output "spool edit: names the record" "record 700: altered"

copy=$(tamper_copy)
sed -i '701d' "$copy"
run host_zspctl audit verify --spool "$copy"
expect_fail "spool delete: detected"
expect_output "spool delete: names the record" "record 701: missing"

copy=$(tamper_copy)
head -n $((total - 5)) "$copy" >"$copy.new" && mv "$copy.new" "$copy"
run host_zspctl audit verify --spool "$copy"
expect_fail "spool truncate: detected"
expect_output "spool truncate: names the first lost record" \
  "record $((total - 4)): missing"

# An attacker who edits a record and recomputes every later "prev" keeps
# the links valid; the delivery state still vouches for the last record.
copy=$(tamper_copy)
first=$((total - 20))
head -n $((first - 1)) "$copy" >"$copy.new"
prev=$(sed -n "$((first - 1))p" "$copy" | tr -d '\n' | sha256sum | cut -d' ' -f1)
sed -n "$first,\$p" "$copy" | while IFS= read -r line; do
  if [ "$(printf '%s' "$line" | jq .seq)" = "$first" ]; then
    line=$(printf '%s' "$line" | jq -c '.ZSP_USER = "bob"')
  fi
  line=$(printf '%s' "$line" | jq -c --arg prev "$prev" '.prev = $prev')
  printf '%s\n' "$line" >>"$copy.new"
  prev=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
done
mv "$copy.new" "$copy"
run host_zspctl audit verify --spool "$copy"
expect_fail "spool rewrite: detected"
expect_output "spool rewrite: names the anchored record" \
  "record $total: altered: its SHA-256 does not match the delivery state"
expect_no_output "spool rewrite: links still valid" "record $first:"

# --- journal fields with hostile argv ---
sudo_allow_id=34880e3274ec4b8197a9866f02897fbe
sudo_deny_id=e4fcdd60972f4768ace9012fa6cef4f7
login_deny_id=4e4bf9fcf87144628e23eff6a0aff072
zsp_grant_sudo alice bob /usr/bin/printf >/dev/null
forged=$'one\nzsp: allow user=root'
escapes=$'\e[2J\e]0;owned\a'
invalid=$'\xff\xfe\xc3('
as_user alice sudo -n printf '%s' "$forged" "$escapes" >/dev/null 2>&1
entry=$(zsp_journal_json MESSAGE_ID=$sudo_allow_id ZSP_USER=alice |
  grep '/usr/bin/printf' | tail -n 1)
command_field=$(printf '%s' "$entry" | jq -r '.ZSP_COMMAND')
expect_equal "journal: command is one text field" \
  "$(printf '%s' "$entry" | jq -r '.ZSP_COMMAND | type')" string
expect_equal "journal: argv kept with escapes" "$command_field" \
  '/usr/bin/printf %s "one\x0azsp: allow user=root" \x1b[2J\x1b]0;owned\x07'
expect_equal "journal: message escapes once" \
  "$(printf '%s' "$entry" | jq -r '.MESSAGE' | sed 's/.* command=//')" \
  "$command_field"
expect_equal "journal: no raw newline" \
  "$(printf '%s' "$command_field" | wc -l)" 0
OUT=$command_field
expect_no_output "journal: no raw escape" $'\e'
seq=$(printf '%s' "$entry" | jq -r '.ZSP_SEQ')
chain=$(printf '%s' "$entry" | jq -r '.ZSP_CHAIN')
spool_line=$(sed -n "${seq}p" "$SPOOL_FILE")
expect_equal "journal: ZSP_CHAIN is the spool line's hash" "$chain" \
  "$(printf '%s' "$spool_line" | sha256sum | cut -d' ' -f1)"
expect_equal "journal: spool holds the same command" \
  "$(printf '%s' "$spool_line" | jq -r '.ZSP_COMMAND')" "$command_field"

# sudo denies arguments that are not UTF-8; the denial keeps them readable.
as_user alice sudo -n printf '%s' "$invalid" >/dev/null 2>&1
entry=$(zsp_journal_json MESSAGE_ID=$sudo_deny_id ZSP_USER=alice | tail -n 1)
expect_equal "journal: invalid UTF-8 shown as bytes" \
  "$(printf '%s' "$entry" | jq -r '.ZSP_COMMAND')" \
  '/usr/bin/printf %s \xff\xfe\xc3('
expect_equal "journal: invalid UTF-8 denial reason" \
  "$(printf '%s' "$entry" | jq -r '.ZSP_REASON')" \
  "argument is not valid UTF-8"

as_user alice sudo -n printf "$(head -c 10000 /dev/zero | tr '\0' x)" \
  >/dev/null 2>&1
# The broker may reject so long a command; the record is capped either way.
entry=$(zsp_journal_json SYSLOG_IDENTIFIER=sudo_zsp ZSP_USER=alice |
  tail -n 1)
command_field=$(printf '%s' "$entry" | jq -r '.ZSP_COMMAND')
if [ "${#command_field}" -le 4000 ]; then pass "journal: long argv capped"; else
  fail "journal: long argv capped" "${#command_field} bytes"
fi
OUT=$command_field
expect_output "journal: cap records the length" "[10000 bytes]"

# --- a full or read-only spool denies ---
full=/var/lib/zsp/spool-full
mkdir -p "$full"
mount -t tmpfs -o size=64k,mode=700 tmpfs "$full"
zsp_write_config "$ZSP_BROKER_URL" "spool_dir = $full"
# tmpfs allocates 4 KiB pages. Grow the spool until its last page has less
# room than one more line, then take every free page, so that the next
# append is written in part and then fails.
for i in $(seq 12); do
  as_user alice sudo -n true >/dev/null 2>&1
  size=$(stat -c %s "$full/audit.jsonl")
  line_bytes=$(tail -n 1 "$full/audit.jsonl" | wc -c)
  [ $((size % 4096 + line_bytes)) -gt 4200 ] && break
done
dd if=/dev/zero of="$full/filler" bs=1k >/dev/null 2>&1
size_before=$(stat -c %s "$full/audit.jsonl")
run as_user alice sudo -n true
expect_fail "full spool: sudo denied"
expect_output "full spool: user told why" "could not be recorded"
run pamtester zsp-test alice acct_mgmt
expect_fail "full spool: login denied"
entry=$(zsp_journal_json MESSAGE_ID=$sudo_deny_id ZSP_USER=alice | tail -n 1)
OUT=$entry
expect_output "full spool: sudo denial in the journal" \
  '"ZSP_REASON":"audit failure: audit spool: cannot write spool'
expect_output "full spool: journal names the error" "No space left on device"
entry=$(zsp_journal_json MESSAGE_ID=$login_deny_id ZSP_USER=alice | tail -n 1)
OUT=$entry
expect_output "full spool: login denial in the journal" \
  '"ZSP_REASON":"audit failure: audit spool: cannot write spool'

# A write cut short by the full disk must not leave half a line behind,
# or the spool would refuse every record once space is free again.
expect_equal "full spool: cut write undone" \
  "$(stat -c %s "$full/audit.jsonl")" "$size_before"
rm "$full/filler"
run as_user alice sudo -n true
expect_status "full spool: sudo allowed once space is free" 0
run host_zspctl audit verify --spool "$full/audit.jsonl"
expect_status "full spool: chain intact afterwards" 0
umount "$full"

zsp_write_config "$ZSP_BROKER_URL"
mount --bind "$SPOOL" "$SPOOL"
mount -o remount,bind,ro "$SPOOL"
spooled=$(spool_count)
run as_user alice sudo -n true
expect_fail "read-only spool: sudo denied"
expect_output "read-only spool: user told why" "could not be recorded"
run pamtester zsp-test alice acct_mgmt
expect_fail "read-only spool: login denied"
entry=$(zsp_journal_json MESSAGE_ID=$sudo_deny_id ZSP_USER=alice | tail -n 1)
OUT=$entry
expect_output "read-only spool: denial in the journal" \
  '"ZSP_REASON":"audit failure: audit spool:'
expect_output "read-only spool: journal names the error" \
  "Read-only file system"
umount "$SPOOL"
expect_equal "read-only spool: nothing appended" "$(spool_count)" "$spooled"

# Only root may be able to read or write the evidence.
chmod 755 "$SPOOL"
run as_user alice sudo -n true
expect_fail "open spool: sudo denied"
entry=$(zsp_journal_json MESSAGE_ID=$sudo_deny_id ZSP_USER=alice | tail -n 1)
OUT=$entry
expect_output "open spool: journal names the problem" \
  "$SPOOL is open to group or others"
chmod 700 "$SPOOL"
run as_user alice sudo -n true
expect_status "read-only spool: sudo allowed once writable" 0

# --- store tampering with the sqlite3 CLI ---
db=$ZSP_BROKER_DIR/audit.db
last_checkpoint=$(sqlite3 "$db" \
  "SELECT max(seq) FROM audit_checkpoints WHERE host='$ZSP_HOST'")
sqlite3 "$db" <<EOF
DROP TRIGGER audit_records_no_update;
DROP TRIGGER audit_records_no_delete;
UPDATE audit_records SET line = replace(line, '"ZSP_USER":"alice"',
  '"ZSP_USER":"mallory"') WHERE host = '$ZSP_HOST' AND seq = 300;
DELETE FROM audit_records WHERE host = '$ZSP_HOST' AND seq = 400;
EOF
run zspctl_as carol audit verify --host "$ZSP_HOST" --audit-key "$AUDIT_KEY"
expect_fail "store edit: detected"
expect_output "store edit: names the record" "record 300: altered"
expect_output "store delete: names the record" "record 400: missing"

sqlite3 "$db" "DELETE FROM audit_records WHERE host = '$ZSP_HOST' AND \
seq >= $((last_checkpoint - 2))"
run zspctl_as carol audit verify --host "$ZSP_HOST" --audit-key "$AUDIT_KEY"
expect_fail "store truncate: detected"
expect_output "store truncate: names the first lost record" \
  "record $((last_checkpoint - 2)): missing"

# The host still has the removed newest records and sends them again;
# the store keeps an alert about the gap.
run host_zspctl audit flush
expect_status "store truncate: next flush succeeds" 0
run zspctl_as carol audit alerts --host "$ZSP_HOST"
expect_output "store truncate: gap alert raised" "gap"
run zspctl_as carol audit verify --host "$ZSP_HOST" --audit-key "$AUDIT_KEY"
expect_no_output "store truncate: records restored" \
  "record $((last_checkpoint - 2)): missing"
expect_output "store truncate: edit still reported" "record 300: altered"

zsp_finish
