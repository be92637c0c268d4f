#!/bin/bash
# End-to-end review of sudo_zsp as a user and an attacker meet it. The
# suite replays the main story and checks the user's message and the
# journal record of each decision. It then tries to get an allow that no
# grant covers, and ends with denials whose message or outcome is wrong.
# Everything runs through the real sudo, the real broker over mutual TLS
# and a private journald, in the harness's private namespaces.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob carol
zsp_start_broker alice bob:approver carol:approver,admin || exit 1
zsp_install_host

sudo_allow_id=34880e3274ec4b8197a9866f02897fbe
sudo_deny_id=e4fcdd60972f4768ace9012fa6cef4f7

helper_pids=()
review_cleanup() {
  local pid
  for pid in "${helper_pids[@]}"; do kill "$pid" 2>/dev/null; done
  zsp_cleanup
}
trap review_cleanup EXIT

# last_record FILTER...: prints the newest journal record matching FILTER.
last_record() {
  zsp_journal_json "$@" | tail -n 1
}

# field_of RECORD NAME: prints one field of a JSON journal record.
field_of() {
  printf '%s' "$1" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"
}

# grant_id_of REQUEST: prints the grant that approving REQUEST created.
grant_id_of() {
  zspctl_as carol --json status "$1" | grep -o '"grant": *"g-[0-9a-f]*"' |
    grep -o 'g-[0-9a-f]*'
}

# start_helper PROGRAM ARGS...: starts a test server that prints its port
# and sets HELPER_PORT.
start_helper() {
  local out="$ZSP_TMP/helper.$RANDOM.port"
  "$@" >"$out" 2>>"$ZSP_TMP/helper.log" &
  helper_pids+=($!)
  for _ in $(seq 100); do
    [ -s "$out" ] && break
    sleep 0.05
  done
  HELPER_PORT=$(cat "$out")
}

# --- the story: what the user reads and what the journal records ---
run as_user alice sudo -n id
expect_fail "story: no grant denied"
expect_output "story: no grant says why" "no active grant for sudo as root"
expect_output "story: no grant says how to ask" "zspctl request --host"
record=$(last_record MESSAGE_ID=$sudo_deny_id ZSP_USER=alice)
expect_equal "story: no grant journal reason" \
  "$(field_of "$record" ZSP_REASON)" "no_grant"
expect_equal "story: no grant journal command" \
  "$(field_of "$record" ZSP_COMMAND)" "/usr/bin/id"

request=$(zsp_grant_sudo alice bob /usr/bin/id) ||
  fail "story: grant" "request or approval failed"
run as_user alice sudo -n id
expect_status "story: approved grant allowed" 0
expect_output "story: command ran as root" "uid=0(root)"
record=$(last_record MESSAGE_ID=$sudo_allow_id ZSP_USER=alice)
expect_equal "story: allow journal request" \
  "$(field_of "$record" ZSP_REQUEST)" "$request"
expect_equal "story: allow journal run-as" \
  "$(field_of "$record" ZSP_RUNAS)" "root"

grant=$(grant_id_of "$request")
zspctl_as carol revoke "$grant" --reason "review" >/dev/null
run as_user alice sudo -n id
expect_fail "story: revoked grant denied"
expect_output "story: revoked says by whom" "was revoked by carol"
record=$(last_record MESSAGE_ID=$sudo_deny_id ZSP_USER=alice)
expect_equal "story: revoked journal reason" \
  "$(field_of "$record" ZSP_REASON)" "revoked"

zsp_grant_sudo alice bob /usr/bin/hostname 2s >/dev/null ||
  fail "story: short grant" "request or approval failed"
run as_user alice sudo -n hostname
expect_status "story: short grant allowed at first" 0
sleep 3
run as_user alice sudo -n hostname
expect_fail "story: expired grant denied"
expect_output "story: expired says when" "expired at"
record=$(last_record MESSAGE_ID=$sudo_deny_id ZSP_USER=alice)
expect_equal "story: expired journal reason" \
  "$(field_of "$record" ZSP_REASON)" "expired"

zsp_grant_sudo alice bob /usr/bin/uname >/dev/null ||
  fail "story: uname grant" "request or approval failed"
cp /etc/zsp/decision.pub "$ZSP_TMP/decision.pub.real"
"$ZSP_BUILD/zsp-broker" init "$ZSP_TMP/stranger" --host "$ZSP_HOST" \
  >/dev/null 2>&1
install -m 644 "$ZSP_TMP/stranger/decision.pub" /etc/zsp/decision.pub
run as_user alice sudo -n uname
expect_fail "story: unverifiable decision denied"
expect_no_output "story: unverifiable decision ran nothing" "Linux"
record=$(last_record MESSAGE_ID=$sudo_deny_id ZSP_ALERT=invalid-decision)
expect_equal "story: unverifiable decision journal verdict" \
  "$(field_of "$record" ZSP_VERDICT)" "invalid"
install -m 644 "$ZSP_TMP/decision.pub.real" /etc/zsp/decision.pub

# Two silent brokers: timeout_ms bounds the whole decision, not each try.
start_helper "$ZSP_BUILD/tcp_blackhole"
first=$HELPER_PORT
start_helper "$ZSP_BUILD/tcp_blackhole"
zsp_write_config "https://127.0.0.1:$first" \
  "broker_url = https://127.0.0.1:$HELPER_PORT
connect_timeout_ms = 500
timeout_ms = 1000"
sed -i '/^connect_timeout_ms = 1000$/d; /^timeout_ms = 2000$/d' \
  /etc/zsp/zsp.conf
run as_user alice sudo -n uname
expect_fail "story: silent brokers denied"
expect_faster "story: denied within timeout_ms for all brokers" 2000
expect_output "story: unreachable says so" "could not be reached"
record=$(last_record MESSAGE_ID=$sudo_deny_id ZSP_USER=alice)
OUT=$(field_of "$record" ZSP_REASON)
expect_output "story: unreachable journal reason" "broker unavailable"
zsp_write_config "$ZSP_BROKER_URL"

# --- attempts to get an allow that no grant covers ---
zsp_grant_sudo alice bob "/usr/bin/id -u" >/dev/null ||
  fail "scope: exact grant" "request or approval failed"
run as_user bob sudo -n id -u
expect_fail "attack: another user's grant denied"
run as_user alice sudo -n id -u -n
expect_fail "attack: extra argument denied"
run as_user alice sudo -n id -un
expect_fail "attack: merged flags denied"
run as_user alice sudo -n id
expect_fail "attack: missing argument denied"
run as_user alice sudo -n -u bob id -u
expect_fail "attack: other run-as user denied"
run as_user alice sudo -n -u "#$(id -u bob)" id -u
expect_fail "attack: other run-as uid denied"
run as_user alice sudo -n -u "#0" id -u
expect_status "attack: run-as #0 is root" 0

zsp_grant_sudo alice bob '/usr/bin/whoami ""' >/dev/null ||
  fail "scope: no-argument grant" "request or approval failed"
run as_user alice sudo -n whoami ""
expect_fail "attack: empty argument under no-argument grant denied"
run as_user alice sudo -n whoami x
expect_fail "attack: argument under no-argument grant denied"

other=$(zspctl_as alice request --host otherhost --sudo --runas root \
  --command /usr/bin/date --duration 1h --reason review --quiet)
zspctl_as bob approve "$other" >/dev/null
run as_user alice sudo -n date
expect_fail "attack: another host's grant denied"

install -d -m 755 $ZSP_TMP/review-evil
printf '#!/bin/sh\necho EVIL\n' >$ZSP_TMP/review-evil/id
chmod 755 $ZSP_TMP/review-evil/id
cp /usr/bin/id $ZSP_TMP/review-evil/id-copy
ln -s /usr/bin/bash $ZSP_TMP/review-evil/bash-as-id
ln -s /usr/bin/id $ZSP_TMP/review-evil/id-link
run as_user alice env PATH=$ZSP_TMP/review-evil:/usr/bin sudo -n id -u
expect_status "attack: PATH ignored, real id runs" 0
expect_no_output "attack: PATH copy did not run" "EVIL"
cd $ZSP_TMP/review-evil
run as_user alice sudo -n ./id -u
cd "$ZSP_ROOT"
expect_fail "attack: relative name in user directory denied"
run as_user alice sudo -n $ZSP_TMP/review-evil/id-copy -u
expect_fail "attack: copy of granted binary denied"
run as_user alice sudo -n $ZSP_TMP/review-evil/bash-as-id -u
expect_fail "attack: symlink to other binary denied"
run as_user alice sudo -n $ZSP_TMP/review-evil/id-link -u
expect_status "attack: symlink to granted binary runs it" 0

run as_user alice env SHELL=/bin/bash sudo -n -s id -u
expect_fail "attack: shell wrapping of granted command denied"

# Approval rules.
own=$(zspctl_as carol request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/true --duration 1h --reason review --quiet)
run zspctl_as carol approve "$own"
expect_fail "approval: approver-admin cannot approve own request"
expect_output "approval: own request message" "your own request"

shared=$(zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/true --duration 1h --reason review --quiet)
pids=()
for i in 1 2 3 4 5 6; do
  zspctl_as bob approve "$shared" >"$ZSP_TMP/approve.bob.$i" 2>&1 &
  pids+=($!)
  zspctl_as carol approve "$shared" >"$ZSP_TMP/approve.carol.$i" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
OUT=$(cat "$ZSP_TMP"/approve.*)
expect_equal "approval: concurrent approvals make one grant" \
  "$(printf '%s\n' "$OUT" | grep -c 'approved; grant')" 1
run zspctl_as bob approve "$shared"
expect_fail "approval: approving twice fails"
zspctl_as carol revoke "$(grant_id_of "$shared")" --reason review >/dev/null
run zspctl_as bob approve "$shared"
expect_fail "approval: revoked request cannot be approved again"
run as_user alice sudo -n true
expect_fail "approval: revoked shared grant denies"

# Control characters never reach the terminal or the journal raw.
run as_user alice sudo -n id $'\e[31mRED' $'a\nb'
expect_fail "escape: ungranted arguments denied"
expect_no_output "escape: no raw ESC on the terminal" $'\e'
OUT=$(last_record MESSAGE_ID=$sudo_deny_id ZSP_USER=alice)
expect_no_output "escape: no raw ESC in the journal" $'\e'

# --- denials whose message or outcome is wrong ---

# Debian's useradd accepts user names with a dot, such as john.doe. The
# broker rejects them with HTTP 400, and the host then reports an
# unreachable broker and asks the user to try again later.
useradd -m -s /bin/bash john.doe
run as_user john.doe sudo -n id
expect_fail "names: dotted user denied"
expect_no_output "names: dotted user not told broker unreachable" \
  "could not be reached"

# A host whose configured name differs from its certificate gets HTTP 403,
# and the user's message blames an unreachable broker.
zsp_write_config "$ZSP_BROKER_URL" "host = otherhost"
run as_user alice sudo -n id -u
expect_fail "names: host not matching certificate denied"
expect_no_output "names: certificate mismatch not told unreachable" \
  "could not be reached"
zsp_write_config "$ZSP_BROKER_URL"

# A path-only grant allows any arguments, but the broker rejects more than
# 256 arguments, or one longer than 4096 bytes, with HTTP 400.
zsp_grant_sudo alice bob /usr/bin/echo >/dev/null ||
  fail "limits: echo grant" "request or approval failed"
run as_user alice sudo -n echo $(seq 300)
expect_status "limits: 300 arguments under path-only grant" 0
run as_user alice sudo -n echo "$(head -c 5000 /dev/zero | tr '\0' x)"
expect_no_output "limits: long argument not told unreachable" \
  "could not be reached"

# Past 4096 arguments the host denies before asking, with a message that
# says no command was given.
run as_user alice sudo -n echo $(seq 5000)
expect_fail "limits: 5000 arguments denied"
expect_no_output "limits: 5000 arguments not called no command" \
  "no command given"

# On merged-/usr Debian, /bin is a symlink to usr/bin. Hosts ask about the
# resolved path, so a /bin entry cannot match; the broker rejects entries
# with "." or ".." parts, and the denial for /bin/true names the resolved
# path to request.
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/../bin/true --duration 1h --reason review
expect_fail "paths: entry with .. rejected"
expect_output "paths: rejection names the resolved form" "resolved path"
run as_user alice sudo -n /bin/true
expect_fail "paths: /bin/true without grant denied"
expect_output "paths: denial suggests the resolved path" "/usr/bin/true"

# The denial message suggests a request. For a command run without
# arguments it suggests a path-only entry, which allows every argument.
run as_user alice sudo -n hostname
expect_output "suggestion: no-argument command suggests exact entry" \
  "--command '/usr/bin/hostname \"\"'"

# A broker clock 90 s ahead is within clock_skew = 120, but the host
# computes the time limit from its own clock. sudo's timeout then outlasts
# the time left on the grant by the broker's clock (grant_exp - iat).
start_helper "$ZSP_BUILD/hostile_broker" --broker-dir "$ZSP_BROKER_DIR" \
  --mode skew
zsp_write_config "https://127.0.0.1:$HELPER_PORT" "clock_skew = 120"
run as_user alice sudo -n id -u
expect_status "clock: decision within clock_skew allowed" 0
record=$(last_record MESSAGE_ID=$sudo_allow_id ZSP_GRANT=g-hostile)
timeout=$(field_of "$record" ZSP_TIMEOUT)
if [ -n "$timeout" ] && [ "$timeout" -le 3510 ]; then
  pass "clock: timeout within the broker's time left"
else
  fail "clock: timeout within the broker's time left" \
    "ZSP_TIMEOUT=$timeout, broker's grant_exp - iat is 3510"
fi
zsp_write_config "$ZSP_BROKER_URL"

zsp_finish
