#!/bin/bash
# The broker's operational API over real HTTPS, end to end: /healthz,
# /metrics and who may read it, request ids in headers and logs, and
# Idempotency-Key under concurrent retries. It also covers the
# grant_expiring webhook with its HMAC, host certificate revocation, and
# run-as groups and environment names that the policy limits and the real
# sudo enforces.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice
# A second address on this namespace's loopback interface: calls from it
# reach the broker from a non-loopback address.
OUTSIDE_ADDRESS=192.0.2.10
ip addr add "$OUTSIDE_ADDRESS/32" dev lo

# A webhook receiver on loopback that accepts everything and appends each
# delivery to hooks.log as headers, the body and a blank line.
WEBHOOK_LOG="$ZSP_TMP/hooks.log"
python3 - "$WEBHOOK_LOG" >"$ZSP_TMP/receiver.log" 2>&1 <<'PYTHON' &
import http.server, sys
log_path = sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(log_path, "a") as log:
            for name in ("X-Zsp-Event", "X-Zsp-Timestamp", "X-Zsp-Signature"):
                log.write("%s: %s\n" % (name, self.headers[name]))
            log.write("%s\n\n" % body.decode())
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
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
WEBHOOK_SECRET=an-expiring-webhook-secret
printf '%s\n' "$WEBHOOK_SECRET" >"$ZSP_TMP/webhook.secret"

ZSP_POLICY="$ZSP_TMP/policy.toml"
cat >"$ZSP_POLICY" <<POLICY
[[entitlement]]
name = "ops"
hosts = ["$ZSP_HOST"]
requesters = ["alice"]
runas = ["root"]
commands = ["/usr/bin/id", "/usr/bin/env", "/usr/bin/uptime"]
runas_groups = ["adm"]
env = ["FOO"]
approvers = ["bob"]
reason_required = false

[[webhook]]
name = "expiring"
url = "http://127.0.0.1:$WEBHOOK_PORT/hook"
secret_file = "$ZSP_TMP/webhook.secret"
events = ["grant_expiring"]
POLICY
ZSP_BROKER_LISTEN=0.0.0.0:0
zsp_start_broker alice bob:approver carol:auditor dave:admin || exit 1
zsp_install_host
BROKER_PORT=${ZSP_BROKER_URL##*:}

# api_curl CURL-ARGS...: curl against the broker, trusting its CA.
api_curl() {
  curl -sS --cacert "$ZSP_BROKER_DIR/ca.pem" "$@"
}

# outside_curl PATH CURL-ARGS...: the same call from $OUTSIDE_ADDRESS.
outside_curl() {
  local path=$1
  shift
  api_curl --resolve "localhost:$BROKER_PORT:$OUTSIDE_ADDRESS" \
    "$@" "https://localhost:$BROKER_PORT$path"
}

# --- structured start log ---
OUT=$(cat "$ZSP_TMP/broker.log")
expect_output "log: start line" "start listen=0.0.0.0:$BROKER_PORT"

# --- /healthz ---
run api_curl -w ' http_status=%{http_code}' "$ZSP_BROKER_URL/healthz"
expect_output "healthz: 200 without credentials" "http_status=200"
expect_output "healthz: store answers" '"store":"ok"'
expect_output "healthz: status ok" '"status":"ok"'

# --- /metrics: who may read it ---
run api_curl -w ' http_status=%{http_code}' "$ZSP_BROKER_URL/metrics"
expect_output "metrics: loopback reads without a token" "http_status=200"
expect_output "metrics: decisions counter" "# TYPE zsp_broker_decisions_total counter"
expect_output "metrics: pending gauge" "zsp_broker_pending_requests 0"
run outside_curl /metrics -w ' http_status=%{http_code}'
expect_output "metrics: non-loopback without a token is 401" "http_status=401"
run outside_curl /metrics -w ' http_status=%{http_code}' \
  -H "Authorization: Bearer $ZSP_TOKEN_alice"
expect_output "metrics: requester token is 403" "http_status=403"
run outside_curl /metrics -w ' http_status=%{http_code}' \
  -H "Authorization: Bearer $ZSP_TOKEN_carol"
expect_output "metrics: auditor token reads them" "http_status=200"
expect_output "metrics: auditor sees the histogram" \
  "zsp_broker_decision_duration_seconds_count"
run outside_curl /healthz -w ' http_status=%{http_code}'
expect_output "healthz: open from any address" "http_status=200"

# --- request ids ---
run api_curl -D - -o /dev/null -H "X-Request-Id: trace-42.a_b:c" \
  -H "Authorization: Bearer $ZSP_TOKEN_alice" "$ZSP_BROKER_URL/v1/grants/g-000000000000"
expect_output "request id: a sane id is echoed" "X-Request-Id: trace-42.a_b:c"
OUT=$(grep 'request_id=trace-42.a_b:c' "$ZSP_TMP/broker.log")
expect_output "request id: on the reject line" "reject status=404"
expect_output "request id: on the http line" "http method=GET path=/v1/grants/g-000000000000 status=404"
run api_curl -D - -o /dev/null -H 'X-Request-Id: bad id with spaces' \
  "$ZSP_BROKER_URL/v1/health"
expect_output "request id: an unsafe id is replaced" "X-Request-Id: req-"
expect_no_output "request id: the unsafe id is not echoed" "bad id"
run api_curl -D - -o /dev/null "$ZSP_BROKER_URL/v1/nothing-here"
expect_output "request id: generated without a header" "X-Request-Id: req-"
generated=$(printf '%s' "$OUT" | grep -o 'req-[0-9a-f]*' | head -1)
OUT=$(grep "request_id=$generated" "$ZSP_TMP/broker.log")
expect_output "request id: generated id in the log" "status=404"
run api_curl -D - -o /dev/null -X DELETE "$ZSP_BROKER_URL/v1/health"
expect_output "request id: set on errors of the HTTP layer" "X-Request-Id: req-"

# --- idempotency keys, concurrent retries ---
body='{"host": "'$ZSP_HOST'", "kind": "sudo", "runas": ["root"],
  "commands": ["/usr/bin/uptime"], "duration": 3600}'
retry_pids=()
for i in 1 2 3 4 5 6; do
  api_curl -X POST -H "Authorization: Bearer $ZSP_TOKEN_alice" \
    -H 'Content-Type: application/json' -H 'Idempotency-Key: retry-1' \
    -H "X-Request-Id: retry-call-$i" \
    -d "$body" -w '\n%{http_code}\n' "$ZSP_BROKER_URL/v1/requests" \
    >"$ZSP_TMP/retry-$i.out" &
  retry_pids+=($!)
done
wait "${retry_pids[@]}"
ids=$(cat "$ZSP_TMP"/retry-*.out | grep -o '"id":"r-[0-9a-f]*"' | sort -u)
expect_equal "idempotency: six retries get one request id" \
  "$(printf '%s\n' "$ids" | wc -l)" 1
OUT=$(cat "$ZSP_TMP"/retry-*.out)
expect_equal "idempotency: every retry is 201" \
  "$(grep -cx 201 <<<"$OUT")" 6
run zspctl_as alice list --mine
expect_equal "idempotency: one request filed" \
  "$(grep -c 'r-' <<<"$OUT")" 1
retried_id=$(printf '%s' "$ids" | grep -o 'r-[0-9a-f]*')
OUT=$(grep "^filed " "$ZSP_TMP/broker.log" | grep "$retried_id")
expect_output "idempotency: filed line carries its call's request id" \
  "request_id=retry-call-"
other_body=${body/uptime/id}
run api_curl -X POST -H "Authorization: Bearer $ZSP_TOKEN_alice" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: retry-1' \
  -d "$other_body" -w ' http_status=%{http_code}' "$ZSP_BROKER_URL/v1/requests"
expect_output "idempotency: other body with the key is 422" "http_status=422"
expect_output "idempotency: error names the header" \
  '"message":"Idempotency-Key: retry-1 was already used with a different body'
run api_curl -D - -X POST -H "Authorization: Bearer $ZSP_TOKEN_alice" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: retry-1' \
  -d "$body" "$ZSP_BROKER_URL/v1/requests"
expect_output "idempotency: replay is marked" "Idempotent-Replayed: true"
expect_output "idempotency: replay has the first id" "$retried_id"
zspctl_as alice cancel "$retried_id" >/dev/null

# --- run-as groups and environment names under the policy ---
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --runas-group shadow --command /usr/bin/id --duration 1h --reason 'api test' --quiet
expect_fail "group: group outside runas_groups rejected"
expect_output "group: message names the group" \
  "ops: run-as group shadow is not in its runas_groups"
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --env BAR --command /usr/bin/env --duration 1h --reason 'api test' --quiet
expect_fail "env: name outside env rejected"
expect_output "env: message names the variable" \
  "ops: environment variable BAR is not in its env"
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --env '*' --command /usr/bin/env --duration 1h --reason 'api test' --quiet
expect_fail "env: whole environment rejected"
expect_output "env: message names sudo -E" "sudo -E"

adm_gid=$(getent group adm | cut -d: -f3)
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --runas-group adm --command /usr/bin/id --duration 1h --reason 'api test' --quiet
expect_status "group: adm within runas_groups accepted" 0
zspctl_as bob approve "$OUT" >/dev/null
run as_user alice sudo -n -u root -g adm /usr/bin/id
expect_status "group: sudo -g adm allowed" 0
expect_output "group: runs with gid adm" "gid=$adm_gid(adm)"

run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --env FOO --command /usr/bin/env --duration 1h --reason 'api test' --quiet
expect_status "env: FOO within env accepted" 0
zspctl_as bob approve "$OUT" >/dev/null
run as_user alice sudo -n FOO=from-policy /usr/bin/env
expect_status "env: sudo FOO=value allowed" 0
expect_output "env: variable reaches the command" "FOO=from-policy"
run as_user alice sudo -n BAR=x /usr/bin/env
expect_fail "env: sudo BAR=value denied"

# --- metrics after decisions ---
run api_curl "$ZSP_BROKER_URL/metrics"
allow_count=$(grep -o '^zsp_broker_decisions_total{outcome="allow"} [0-9]*' \
  <<<"$OUT" | cut -d' ' -f2)
deny_count=$(grep -o '^zsp_broker_decisions_total{outcome="deny"} [0-9]*' \
  <<<"$OUT" | cut -d' ' -f2)
expect_equal "metrics: two allows counted" "$allow_count" 2
expect_equal "metrics: one deny counted" "$deny_count" 1
expect_output "metrics: calls counted by route" \
  'zsp_broker_http_requests_total{method="POST",route="/v1/requests",status="422"} 1'
expect_output "metrics: pending gauge follows requests" \
  "zsp_broker_pending_requests 0"

# --- grant_expiring webhook ---
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/uptime --duration 2m --reason 'api test' --quiet
expect_status "expiring: short grant requested" 0
expiring_request=$OUT
zspctl_as bob approve "$expiring_request" >/dev/null
for i in $(seq 50); do
  grep -q 'X-Zsp-Event: grant_expiring' "$WEBHOOK_LOG" 2>/dev/null && break
  sleep 0.1
done
OUT=$(cat "$WEBHOOK_LOG" 2>/dev/null)
expect_output "expiring: webhook sent" "X-Zsp-Event: grant_expiring"
expect_output "expiring: names the request" "\"id\":\"$expiring_request\""
hook_ts=$(sed -n '2p' "$WEBHOOK_LOG" | cut -d' ' -f2)
hook_sig=$(sed -n '3p' "$WEBHOOK_LOG" | cut -d' ' -f2)
hook_body=$(sed -n '4p' "$WEBHOOK_LOG")
want_sig=sha256=$(printf '%s.%s' "$hook_ts" "$hook_body" |
  openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" -r | cut -d' ' -f1)
expect_equal "expiring: HMAC signature verifies" "$hook_sig" "$want_sig"
wrong_sig=sha256=$(printf '%s.%s' "$hook_ts" "$hook_body" |
  openssl dgst -sha256 -hmac "another-secret-value" -r | cut -d' ' -f1)
if [ "$hook_sig" != "$wrong_sig" ]; then
  pass "expiring: signature depends on the secret"
else
  fail "expiring: signature depends on the secret" "same under another key"
fi
sleep 1.5
expect_equal "expiring: sent once per grant" \
  "$(grep -c 'X-Zsp-Event: grant_expiring' "$WEBHOOK_LOG")" 1
kill "$RECEIVER_PID" 2>/dev/null

# --- host certificate revocation ---
mkdir -p "$ZSP_TMP/enroll" "$ZSP_TMP/enroll2"
zspctl_as dave host enroll web-7 --out "$ZSP_TMP/enroll" >/dev/null
# web7_decide DIR: requests a login decision as web-7 with the
# certificate in DIR.
web7_decide() {
  api_curl --cert "$1/web-7.pem" --key "$1/web-7.key" \
    -H 'Content-Type: application/json' -w ' http_status=%{http_code}' \
    -X POST "$ZSP_BROKER_URL/v1/decisions" -d '{"user": "alice",
    "host": "web-7", "kind": "login", "nonce": "mF3k2p0xq8Zr1YbVn7Qw2A"}'
}
run web7_decide "$ZSP_TMP/enroll"
expect_output "host revoke: enrolled host decides" '"jws":"'
run zspctl_as bob host revoke web-7
expect_fail "host revoke: only an admin revokes"
run zspctl_as dave host revoke web-7 --reason "disk stolen"
expect_status "host revoke: admin revokes web-7" 0
run web7_decide "$ZSP_TMP/enroll"
expect_output "host revoke: revoked certificate is 401" "http_status=401"
expect_output "host revoke: told to enroll again" "was revoked"
OUT=$(grep '^host_revoked ' "$ZSP_TMP/broker.log")
expect_output "host revoke: logged" 'host=web-7 by=dave reason="disk stolen"'
run api_curl --cert "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.pem" \
  --key "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.key" -H 'Content-Type: application/json' \
  -X POST "$ZSP_BROKER_URL/v1/host/grants" -d '{"user": "alice"}'
expect_output "host revoke: other hosts unaffected" '"grants":'
# A certificate issued after the revocation works; one second apart,
# because a certificate from the second of the revocation counts as revoked.
sleep 1.1
zspctl_as dave host enroll web-7 --out "$ZSP_TMP/enroll2" >/dev/null
run web7_decide "$ZSP_TMP/enroll2"
expect_output "host revoke: re-enrolled host decides" '"jws":"'
run web7_decide "$ZSP_TMP/enroll"
expect_output "host revoke: old certificate still rejected" "http_status=401"

# --- structured reload, error and stop logs ---
printf '[[entitlement]]\nname = "broken"\n' >>"$ZSP_BROKER_DIR/policy.toml"
kill -HUP "$ZSP_BROKER_PID"
for i in $(seq 50); do
  grep -q 'policy reload failed' "$ZSP_TMP/broker.log" && break
  sleep 0.1
done
OUT=$(grep '^error ' "$ZSP_TMP/broker.log")
expect_output "log: failed reload is an error line" \
  'detail="policy reload failed, the previous policy stays in force"'
head -n -2 "$ZSP_BROKER_DIR/policy.toml" >"$ZSP_TMP/policy.fixed"
cp "$ZSP_TMP/policy.fixed" "$ZSP_BROKER_DIR/policy.toml"
kill -HUP "$ZSP_BROKER_PID"
for i in $(seq 50); do
  grep -q '^reload ' "$ZSP_TMP/broker.log" && break
  sleep 0.1
done
OUT=$(grep '^reload ' "$ZSP_TMP/broker.log")
expect_output "log: reload line" "entitlements=1"
kill -TERM "$ZSP_BROKER_PID"
wait "$ZSP_BROKER_PID"
expect_equal "log: clean exit on SIGTERM" "$?" 0
ZSP_BROKER_PID=
OUT=$(cat "$ZSP_TMP/broker.log")
expect_output "log: stop line" "stop signal=SIGTERM"

printf '[[entitlement]]\nname = "broken"\n' >>"$ZSP_BROKER_DIR/policy.toml"
run "$ZSP_BUILD/zsp-broker" serve "$ZSP_BROKER_DIR" --listen 127.0.0.1:0
expect_status "log: broken policy stops the start" 1
expect_output "log: startup failure is an error line" \
  'error detail="startup failed" error='
expect_output "log: startup failure names the line" "policy.toml:"

zsp_finish
