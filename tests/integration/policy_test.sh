#!/bin/bash
# The broker's written policy, end to end over mutual TLS with zspctl and
# the real sudo: entitlements, N-of-M approval, deny, expiry, overlap,
# auto-approval, the event history and reload on SIGHUP.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice

# A webhook receiver on loopback: it returns 500 to the first POST, so that
# the broker must retry, and 204 to every later one. Each delivery is
# appended to hooks.log as headers, the body and a blank line.
WEBHOOK_LOG="$ZSP_TMP/hooks.log"
python3 - "$WEBHOOK_LOG" >"$ZSP_TMP/receiver.log" 2>&1 <<'PYTHON' &
import http.server, sys
log_path = sys.argv[1]
calls = [0]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        calls[0] += 1
        with open(log_path, "a") as log:
            for name in ("X-Zsp-Event", "X-Zsp-Timestamp", "X-Zsp-Signature"):
                log.write("%s: %s\n" % (name, self.headers[name]))
            log.write("call: %d path: %s\n%s\n\n" % (calls[0], self.path,
                                                  body.decode()))
        self.send_response(500 if calls[0] == 1 else 204)
        self.end_headers()
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
PYTHON
RECEIVER_PID=$!
for i in $(seq 50); do
  WEBHOOK_PORT=$(head -1 "$ZSP_TMP/receiver.log" 2>/dev/null)
  [ -n "$WEBHOOK_PORT" ] && break
  sleep 0.1
done
printf 'a-webhook-secret-for-tests\n' >"$ZSP_TMP/webhook.secret"

write_policy() {
  cat >"$1" <<POLICY
[groups]
leads = ["bob", "dave", "erin"]

[[entitlement]]
name = "web-ops"
hosts = ["$ZSP_HOST"]
requesters = ["alice", "erin"]
runas = ["root"]
commands = ["/usr/bin/id", "/usr/bin/cat /var/log/*"]
approvers = ["@leads"]
approvals = 2
max_duration = "2h"
pending_lifetime = "3s"
reason_pattern = "^INC-[0-9]+"

[[entitlement]]
name = "uptime-oncall"
hosts = ["$ZSP_HOST"]
requesters = ["alice"]
runas = ["root"]
commands = ["/usr/bin/uptime"]
approvers = ["bob"]
reason_required = false

[[entitlement.auto_approve]]
requesters = ["alice"]
hours = "00:00-24:00"

[[webhook]]
name = "test"
url = "http://127.0.0.1:$WEBHOOK_PORT/json"
secret_file = "$ZSP_TMP/webhook.secret"

[[webhook]]
name = "chat"
url = "http://127.0.0.1:$WEBHOOK_PORT/slack"
secret_file = "$ZSP_TMP/webhook.secret"
format = "slack"
events = ["request_denied"]
POLICY
}

ZSP_POLICY="$ZSP_TMP/policy.toml"
write_policy "$ZSP_POLICY"
zsp_start_broker alice bob:approver dave:approver erin:approver,admin \
  carol:approver || exit 1
zsp_install_host

request_id() {
  zspctl_as "$1" request --host "$ZSP_HOST" --sudo --runas root \
    --command "$2" --duration 1h --reason "${3:-INC-1 check}" --quiet
}

# --- requests outside every entitlement ---
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas postgres \
  --command /usr/bin/id --duration 1h --reason "INC-1 check" --quiet
expect_fail "no entitlement: other run-as user rejected"
expect_output "no entitlement: message says why" \
  "web-ops: run-as user postgres is not in its runas"

run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/id --duration 1h --reason "just because" --quiet
expect_fail "reason pattern: free text rejected"
expect_output "reason pattern: message names the pattern" "reason_pattern"

run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command "/usr/bin/cat /var/log/../../etc/shadow" --duration 1h \
  --reason "INC-1 check" --quiet
expect_fail "dot-dot: wildcard does not reach /etc/shadow"
expect_output "dot-dot: command named" "is not covered by its commands"

run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/id --duration 3h --reason "INC-1 check" --quiet
expect_fail "duration: over max_duration rejected"

# --- self-approval, even for an admin ---
run request_id erin /usr/bin/id
expect_status "admin: files a request" 0
erin_request=$OUT
run zspctl_as erin approve "$erin_request"
expect_fail "admin: own request approval rejected"
expect_output "admin: told why" "your own request"

# --- two approvals ---
run request_id alice /usr/bin/id
expect_status "two of m: filed" 0
request=$OUT
run zspctl_as alice status "$request"
expect_output "two of m: status before any approval" \
  "policy    entitlement web-ops, 0 of 2 approvals"
expect_no_output "two of m: no empty approver list" "approvals ("
run zspctl_as carol approve "$request"
expect_fail "two of m: approver outside the entitlement rejected"
expect_output "two of m: carol told why" "not an approver of entitlement web-ops"
run zspctl_as bob approve "$request"
expect_status "two of m: first approval accepted" 0
expect_output "two of m: still pending" "pending (1 of 2 approvals)"
run zspctl_as alice status "$request"
expect_output "two of m: status names the approver" \
  "policy    entitlement web-ops, 1 of 2 approvals (bob)"
run zspctl_as bob approve "$request"
expect_fail "two of m: second vote of the same approver rejected"
run as_user alice sudo -n /usr/bin/id -u
expect_fail "two of m: sudo denied after one approval"
run zspctl_as dave approve "$request"
expect_status "two of m: second approval accepted" 0
expect_output "two of m: approved with a grant" "approved; grant g-"
grant=$(printf '%s' "$OUT" | grep -o 'g-[0-9a-f]*')
run as_user alice sudo -n /usr/bin/id -u
expect_status "two of m: sudo allowed" 0
expect_output "two of m: ran as root" "0"

# --- long poll ---
run request_id alice "/usr/bin/cat /var/log/wtmp"
polled=$OUT
poll_start=$(date +%s%N)
curl -sS --cacert "$ZSP_BROKER_DIR/ca.pem" \
  -H "Authorization: Bearer $ZSP_TOKEN_alice" \
  "$ZSP_BROKER_URL/v1/requests/$polled?wait=10" >"$ZSP_TMP/poll.json" &
poll_pid=$!
sleep 1
zspctl_as bob approve "$polled" >/dev/null
zspctl_as dave deny "$polled" >/dev/null
wait "$poll_pid"
poll_ms=$((($(date +%s%N) - poll_start) / 1000000))
OUT=$(cat "$ZSP_TMP/poll.json")
expect_output "long poll: returns the new state" '"state":"denied"'
# One second of sleep and two zspctl calls come before the change.
if [ "$poll_ms" -lt 4000 ]; then pass "long poll: returns soon after the change"
else fail "long poll: returns soon after the change" "took $poll_ms ms"; fi
run curl -sS --cacert "$ZSP_BROKER_DIR/ca.pem" \
  -H "Authorization: Bearer $ZSP_TOKEN_alice" \
  "$ZSP_BROKER_URL/v1/requests/$polled?wait=99"
expect_output "long poll: wait over 10 s rejected" '"error":"invalid_request"'

# --- history ---
run zspctl_as alice history "$request"
expect_status "history: listed" 0
for event in filed approval approved; do
  expect_output "history: has $event" " $event "
done
expect_output "history: names dave" "dave"

# --- overlap ---
run request_id alice /usr/bin/id
expect_fail "overlap: second request for the same scope rejected"
expect_output "overlap: names the active grant" "$grant"

# --- one deny ends the request ---
run request_id alice "/usr/bin/cat /var/log/syslog"
expect_status "deny: filed" 0
denied=$OUT
zspctl_as bob approve "$denied" >/dev/null
run zspctl_as dave deny "$denied"
expect_status "deny: accepted" 0
expect_output "deny: request denied" "denied"
run zspctl_as erin approve "$denied"
expect_fail "deny: no approval after a deny"

# --- pending lifetime ---
run request_id alice "/usr/bin/cat /var/log/dpkg.log"
expect_status "expiry: filed" 0
expiring=$OUT
sleep 4
run zspctl_as alice status "$expiring"
expect_output "expiry: request expired" "(expired)"
run zspctl_as bob approve "$expiring"
expect_fail "expiry: expired request cannot be approved"
run zspctl_as alice history "$expiring"
expect_output "expiry: history records it" "expired"

# --- auto-approval ---
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/uptime --duration 1h --reason "on call" --quiet
expect_status "auto: filed" 0
auto=$OUT
run zspctl_as alice status "$auto"
expect_output "auto: approved at once" "(approved)"
run zspctl_as alice history "$auto"
expect_output "auto: recorded as auto-approval" "auto_approved"
run as_user alice sudo -n /usr/bin/uptime
expect_status "auto: sudo allowed" 0

# --- revoke ---
run zspctl_as erin revoke "$grant" --reason "incident closed"
expect_status "revoke: accepted" 0
run as_user alice sudo -n /usr/bin/id -u
expect_fail "revoke: sudo denied after revoke"
run zspctl_as alice history "$request"
expect_output "revoke: history records it" "revoked"

# --- reload ---
run zspctl_as alice request --host "$ZSP_HOST" --login --duration 1h \
  --reason "INC-2" --quiet
expect_fail "reload: login not granted before"
write_policy "$ZSP_BROKER_DIR/policy.toml"
cat >>"$ZSP_BROKER_DIR/policy.toml" <<POLICY

[[entitlement]]
name = "login"
hosts = ["$ZSP_HOST"]
requesters = ["alice"]
login = true
approvers = ["bob"]
POLICY
kill -HUP "$ZSP_BROKER_PID"
for i in $(seq 50); do
  grep -q '^reload ' "$ZSP_TMP/broker.log" && break
  sleep 0.1
done
OUT=$(cat "$ZSP_TMP/broker.log")
expect_output "reload: logged" "entitlements=3"
run zspctl_as alice request --host "$ZSP_HOST" --login --duration 1h \
  --reason "INC-2" --quiet
expect_status "reload: login request accepted" 0

printf '[[entitlement]]\nname = "broken"\nhosts = ["%s"]\nlogin = yes\n' \
  "$ZSP_HOST" >"$ZSP_BROKER_DIR/policy.toml"
kill -HUP "$ZSP_BROKER_PID"
for i in $(seq 50); do
  grep -q 'policy reload failed' "$ZSP_TMP/broker.log" && break
  sleep 0.1
done
OUT=$(cat "$ZSP_TMP/broker.log")
expect_output "broken reload: logged with its line" "policy.toml:4:"
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/cat --duration 1h --reason "INC-3" --quiet
expect_fail "broken reload: old policy still rejects"
expect_output "broken reload: old policy named" "uptime-oncall"
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command "/usr/bin/cat /var/log/syslog" --duration 1h --reason "INC-3" \
  --quiet
expect_status "broken reload: old policy still accepts" 0

# --- identities ---
run zspctl_as erin user add frank --role approver
expect_status "token: admin adds a person" 0
ZSP_TOKEN_frank=$OUT
run zspctl_as frank whoami
expect_output "token: new token works" "frank (requester, approver)"
run zspctl_as bob user add mallory
expect_fail "token: only an admin adds people"
run zspctl_as erin user revoke frank
expect_status "token: admin revokes it" 0
run zspctl_as frank whoami
expect_fail "token: revoked token rejected"
expect_output "token: told the token is unknown" "unknown bearer token"

host_curl() {
  curl -sS --cacert "$ZSP_BROKER_DIR/ca.pem" \
    --cert "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.pem" \
    --key "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.key" \
    -H 'Content-Type: application/json' "$@"
}
run host_curl -X POST "$ZSP_BROKER_URL/v1/decisions" -d '{"user": "alice",
  "host": "otherhost", "kind": "login", "nonce": "mF3k2p0xq8Zr1YbVn7Qw2A"}'
expect_output "host: asking about another host rejected" '"error":"forbidden"'
run host_curl -X POST "$ZSP_BROKER_URL/v1/host/requests" -d '{"user": "alice",
  "host": "otherhost", "kind": "login", "duration": 60, "reason": "INC-1"}'
expect_output "host: filing for another host rejected" '"error":"invalid_request"'

# --- webhooks ---
OUT=$(cat "$WEBHOOK_LOG" 2>/dev/null)
expect_output "webhook: request filed" "X-Zsp-Event: request_filed"
expect_output "webhook: approved" "X-Zsp-Event: request_approved"
expect_output "webhook: denied" "X-Zsp-Event: request_denied"
expect_output "webhook: expired" "X-Zsp-Event: request_expired"
expect_output "webhook: revoked" "X-Zsp-Event: grant_revoked"
expect_output "webhook: slack payload" '{"text":"zsp: request_denied'
# The receiver failed the first delivery; the broker retried it.
OUT=$(cat "$ZSP_TMP/broker.log")
expect_output "webhook: failure logged" "webhook delivery failed, retrying"
OUT=$(grep -c '"event":"request_filed"' "$WEBHOOK_LOG")
first_body=$(sed -n '5p' "$WEBHOOK_LOG")
first_ts=$(sed -n '2p' "$WEBHOOK_LOG" | cut -d' ' -f2)
first_sig=$(sed -n '3p' "$WEBHOOK_LOG" | cut -d' ' -f2)
want_sig=sha256=$(printf '%s.%s' "$first_ts" "$first_body" |
  openssl dgst -sha256 -hmac a-webhook-secret-for-tests -r | cut -d' ' -f1)
expect_equal "webhook: signature verifies" "$first_sig" "$want_sig"
# erin filed a request; she must not be listed as its approver.
erin_hook=$(grep -F "\"id\":\"$erin_request\"" "$WEBHOOK_LOG" | head -1)
OUT=$erin_hook
expect_output "webhook: approvers listed" '"approvers":["bob","dave"]'
kill "$RECEIVER_PID" 2>/dev/null

# --- host enrollment ---
mkdir -p "$ZSP_TMP/enroll"
run zspctl_as bob host enroll web-9 --out "$ZSP_TMP/enroll"
expect_fail "enroll: only an admin enrolls hosts"
run zspctl_as erin host enroll web-9 --out "$ZSP_TMP/enroll"
expect_status "enroll: admin enrolls web-9" 0
expect_equal "enroll: key is private" \
  "$(stat -c %a "$ZSP_TMP/enroll/web-9.key")" 600
web9_curl() {
  curl -sS --cacert "$ZSP_TMP/enroll/ca.pem" \
    --cert "$ZSP_TMP/enroll/web-9.pem" --key "$ZSP_TMP/enroll/web-9.key" \
    -H 'Content-Type: application/json' "$@"
}
run web9_curl -X POST "$ZSP_BROKER_URL/v1/decisions" -d '{"user": "alice",
  "host": "web-9", "kind": "login", "nonce": "mF3k2p0xq8Zr1YbVn7Qw2A"}'
expect_output "enroll: new host asks about itself" '"jws":"'
run web9_curl -X POST "$ZSP_BROKER_URL/v1/decisions" -d '{"user": "alice",
  "host": "testhost", "kind": "login", "nonce": "mF3k2p0xq8Zr1YbVn7Qw2A"}'
expect_output "enroll: new host may not ask about another" \
  '"error":"forbidden"'

run "$ZSP_BUILD/zsp-broker" policy check "$ZSP_BROKER_DIR"
expect_fail "policy check: broken file rejected"
expect_output "policy check: names line" "policy.toml:4:"

zsp_finish
