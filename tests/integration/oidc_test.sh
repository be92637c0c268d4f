#!/bin/bash
# People sign in through a real OpenID Connect provider (the npm package
# oidc-provider, on loopback inside the test's network namespace): zspctl
# login by the device authorization grant, request and approval with the
# resulting tokens, a real sudo under the grant, the step-up rule for
# approvals, and tokens that the broker must reject. A headless chromium
# completes the provider's user step. Runs in its own mount namespace.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

TOOLS="$ZSP_ROOT/tests/tools/oidc"
if [ ! -d "$TOOLS/node_modules/oidc-provider" ] || [ ! -x /usr/bin/chromium ]; then
  echo "oidc_test: run tests/install-deps.sh first (needs node modules" \
    "in $TOOLS and /usr/bin/chromium)" >&2
  exit 1
fi

zsp_private_system || exit 1

OP_PORT=9443
ISSUER="https://127.0.0.1:$OP_PORT"
BROKER_PORT=8443

oidc_cleanup() {
  [ -n "${OP_PID:-}" ] && kill "$OP_PID" 2>/dev/null
  zsp_cleanup
}
trap oidc_cleanup EXIT

# A CA and a certificate for 127.0.0.1, for the provider's HTTPS.
make_provider_pki() {
  local dir=$ZSP_TMP/op
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 1 \
    -subj /CN=zsp-test-provider-ca 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$dir/server.key" -out "$dir/server.csr" \
      -subj /CN=127.0.0.1 2>/dev/null &&
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
      >"$dir/ext.cnf" &&
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" \
      -CAkey "$dir/ca.key" -CAcreateserial -days 1 -extfile "$dir/ext.cnf" \
      -out "$dir/server.pem" 2>/dev/null
}
make_provider_pki || { echo "oidc_test: openssl failed" >&2; exit 1; }

cat >"$ZSP_TMP/oidc.toml" <<EOF
public_url = "https://127.0.0.1:$BROKER_PORT"
clock_skew = 30

[approval]
max_auth_age = 600

[[provider]]
issuer = "$ISSUER"
ca_file = "$ZSP_TMP/op/ca.pem"
cli_client_id = "zspctl"
web_client_id = "zsp-web"

[provider.roles]
requester = ["eng"]
approver = ["zsp-approvers"]
EOF

zsp_add_users alice bob carol
ZSP_OIDC_CONFIG="$ZSP_TMP/oidc.toml" ZSP_BROKER_LISTEN="127.0.0.1:$BROKER_PORT" \
  zsp_start_broker dave:approver erin:auditor || exit 1
zsp_install_host
install -m 644 "$ZSP_TMP/op/ca.pem" /etc/zsp/op-ca.pem

node "$TOOLS/provider.js" --port "$OP_PORT" --cert "$ZSP_TMP/op/server.pem" \
  --key "$ZSP_TMP/op/server.key" --keys-out "$ZSP_TMP/op/keys.json" \
  --redirect-uri "$ZSP_BROKER_URL/web/callback" >"$ZSP_TMP/op.log" 2>&1 &
OP_PID=$!
for i in $(seq 100); do
  grep -q 'listening on' "$ZSP_TMP/op.log" 2>/dev/null && break
  sleep 0.1
done
if ! grep -q 'listening on' "$ZSP_TMP/op.log"; then
  echo "oidc_test: the provider did not start:" >&2
  cat "$ZSP_TMP/op.log" >&2
  exit 1
fi

# Runs zspctl as local user $1 with the broker and provider CAs.
zspctl_user() {
  local who=$1
  shift
  as_user "$who" env ZSP_BROKER_URL="$ZSP_BROKER_URL" \
    ZSP_CA_FILE=/etc/zsp/ca.pem ZSP_OIDC_CA_FILE=/etc/zsp/op-ca.pem \
    "$ZSP_BUILD/zspctl" "$@"
}

# Signs local user $1 in with zspctl login; the browser completes the
# provider's step with the remaining arguments (--mfa, --age SECONDS).
# Prints the login output and returns its status; use it with run.
login_as() {
  local who=$1
  shift
  local log="$ZSP_TMP/login-$who.log" url="" i status
  zspctl_user "$who" login >"$log" 2>&1 &
  local pid=$!
  for i in $(seq 100); do
    url=$(sed -n 's/^or open \(https:[^ ]*\)$/\1/p' "$log" | head -1)
    [ -n "$url" ] && break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "no verification URL from zspctl login"
    cat "$log"
    return 1
  fi
  if node "$TOOLS/browser.js" device "$url" "$who" "$@" >>"$log" 2>&1; then
    wait "$pid"
    status=$?
  else
    # zspctl would poll until the code expires; the browser step failed.
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    status=1
  fi
  cat "$log"
  return "$status"
}

# Runs zspctl as root with the bearer token $1.
zspctl_token() {
  local token=$1
  shift
  ZSP_BROKER_URL=$ZSP_BROKER_URL ZSP_CA_FILE=/etc/zsp/ca.pem \
    ZSP_TOKEN=$token "$ZSP_BUILD/zspctl" "$@"
}

mint() {
  node "$TOOLS/mint.js" "$ZSP_TMP/op/keys.json" "$1" "${2:-$ISSUER}" \
    zspctl bob
}

# --- zspctl login by the device flow ---
run login_as alice
expect_status "login: alice signs in by device flow" 0
expect_output "login: tells where the token went" "oidc-token"
token_mode=$(stat -c %a /home/alice/.config/zsp/oidc-token 2>/dev/null)
expect_equal "login: token file mode 600" "$token_mode" "600"
token_owner=$(stat -c %U /home/alice/.config/zsp/oidc-token 2>/dev/null)
expect_equal "login: token file owned by alice" "$token_owner" "alice"

run zspctl_user alice --json whoami
expect_status "whoami: alice's token accepted" 0
expect_output "whoami: name from preferred_username" '"user": "alice"'
expect_output "whoami: method is oidc" '"auth_method": "oidc"'
expect_output "whoami: requester role from groups" '"requester"'
expect_no_output "whoami: no approver role for alice" '"approver"'

# --- request and approve with OpenID Connect tokens ---
run zspctl_user alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/id --duration 1h --reason "oidc test" --quiet
expect_status "request: filed with alice's token" 0
request=$OUT

run zspctl_user alice approve "$request"
expect_fail "approve: own request rejected"
expect_output "approve: own request message" "own request"

run as_user alice sudo -n id
expect_fail "sudo: denied before approval"

run login_as bob
expect_status "login: bob signs in by device flow" 0

run zspctl_user bob approve "$request" --comment "looks fine"
expect_status "approve: bob approves with his token" 0

run as_user alice sudo -n id
expect_status "sudo: allowed under the grant" 0
expect_output "sudo: ran as root" "uid=0(root)"

OUT=$(grep '^approved ' "$ZSP_TMP/broker.log" | grep "$request")
expect_output "log: approval records the sign-in method" \
  'auth="zspctl_login auth_age='
expect_output "log: approval records amr" 'amr=pwd'
run zspctl_as dave --json history "$request"
expect_output "history: zspctl login vote recorded" '"method": "zspctl_login"'

# --- step-up: an old sign-in cannot approve ---
run zspctl_user alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/whoami --duration 1h --reason "second" --quiet
expect_status "request: second request filed" 0
second=$OUT

run login_as carol --age 3600
expect_status "login: carol signs in with an old sign-in" 0
run zspctl_user carol approve "$second"
expect_fail "step-up: approval with an old sign-in rejected"
expect_output "step-up: message says to sign in again" "sign in again"

run login_as carol
expect_status "login: carol signs in again" 0
run zspctl_user carol approve "$second"
expect_status "step-up: approval after a fresh sign-in" 0

run zspctl_user alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/true --duration 10m --reason "third" --quiet
third=$OUT
run zspctl_as dave approve "$third"
expect_fail "step-up: API token approval rejected"
expect_output "step-up: API token told to run zspctl login" "zspctl login"

# --- tokens the broker must reject ---
run zspctl_token "$(mint valid)" whoami
expect_status "mint: a valid token signed with the real key passes" 0

run zspctl_token "$(mint expired)" whoami
expect_fail "reject: expired token"
expect_output "reject: expired message" "expired"

run zspctl_token "$(mint wrong-audience)" whoami
expect_fail "reject: token for another audience"
expect_output "reject: audience message" "audience"

run zspctl_token "$(mint valid https://127.0.0.1:9444)" whoami
expect_fail "reject: token from another issuer"
expect_output "reject: issuer message" "not trusted"

run zspctl_token "$(mint bad-signature)" whoami
expect_fail "reject: tampered token"
expect_output "reject: tampered message" "signature is invalid"

run zspctl_token "$(mint stranger-key)" whoami
expect_fail "reject: token signed by another key"
expect_output "reject: other key message" "signature is invalid"

run zspctl_token "$(mint alg-none)" whoami
expect_fail "reject: alg none"
expect_output "reject: alg none message" "not allowed"

run zspctl_token "$(mint hs256-public-key)" whoami
expect_fail "reject: HS256 keyed with the public key"
expect_output "reject: HS256 message" "not allowed"

run zspctl_token "$(mint future-iat)" whoami
expect_fail "reject: token issued in the future"

run zspctl_token "$(mint old-auth-time)" approve "$third"
expect_fail "reject: approval with old auth_time"
expect_output "reject: old auth_time says sign in again" "sign in again"

# --- webhooks link to the request on the web page ---
zsp_start_webhook_receiver || exit 1
printf 'a-webhook-secret-for-oidc-tests\n' >"$ZSP_TMP/webhook.secret"
cat >>"$ZSP_BROKER_DIR/policy.toml" <<POLICY

[[webhook]]
name = "chat"
url = "http://127.0.0.1:$WEBHOOK_PORT/slack"
secret_file = "$ZSP_TMP/webhook.secret"
format = "slack"
events = ["request_filed"]

[[webhook]]
name = "tickets"
url = "http://127.0.0.1:$WEBHOOK_PORT/json"
secret_file = "$ZSP_TMP/webhook.secret"
events = ["request_filed"]
POLICY
kill -HUP "$ZSP_BROKER_PID"
for i in $(seq 50); do
  grep -q '^reload ' "$ZSP_TMP/broker.log" && break
  sleep 0.1
done
OUT=$(cat "$ZSP_TMP/broker.log")
expect_output "webhook: policy with webhooks reloaded" "entitlements=1"

# --- the web approval page ---
run zspctl_user alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/uname --duration 1h --reason "web approval" --quiet
expect_status "web: request to approve filed" 0
web_request=$OUT
request_link="https://127.0.0.1:$BROKER_PORT/web/#$web_request"
for i in $(seq 50); do
  [ "$(grep -c "$web_request" "$WEBHOOK_LOG" 2>/dev/null)" = 2 ] && break
  sleep 0.1
done
OUT=$(grep "^/slack request_filed " "$WEBHOOK_LOG" | grep "$web_request" |
  cut -d' ' -f3- | jq -r 'keys | join(",")')
expect_equal "webhook: Slack payload has only text" "$OUT" "text"
OUT=$(grep "^/slack request_filed " "$WEBHOOK_LOG" | grep "$web_request" |
  cut -d' ' -f3- | jq -r .text)
expect_output "webhook: Slack text names the request" "request_filed $web_request"
expect_output "webhook: Slack text links to the web page" "$request_link"
OUT=$(grep "^/json request_filed " "$WEBHOOK_LOG" | grep "$web_request" |
  cut -d' ' -f3- | jq -r .url)
expect_equal "webhook: JSON url is the request on the web page" "$OUT" \
  "$request_link"
run zspctl_user alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/date --duration 1h --reason "stays pending" --quiet
expect_status "web: request left pending filed" 0
pending_request=$OUT

run as_user alice sudo -n /usr/bin/uname
expect_fail "web: sudo denied before web approval"

run node "$TOOLS/browser.js" web "$ZSP_BROKER_URL" carol \
  "[{\"do\":\"post-without-csrf\",\"request\":\"$pending_request\"},
    {\"do\":\"expect-text\",\"text\":\"$pending_request\"},
    {\"do\":\"open-link\",\"url\":\"$request_link\",\"request\":\"$web_request\"},
    {\"do\":\"approve\",\"request\":\"$web_request\",\"comment\":\"via web\"},
    {\"do\":\"print-session\"}]" --mfa
expect_status "web: carol's browser session" 0
printf '%s\n' "$OUT" >"$ZSP_TMP/carol-web.log"
expect_output "web: carol signs in" "ok carol signed in"
expect_output "web: POST without CSRF token rejected" \
  "ok POST without CSRF token rejected with 403"
expect_output "web: webhook link shows the request" \
  "ok link shows $web_request"
expect_output "web: carol approves" "ok approved $web_request"

run zspctl_as dave status "$pending_request"
expect_output "web: CSRF-less POST changed nothing" "pending"

run as_user alice sudo -n /usr/bin/uname
expect_status "web: sudo allowed after web approval" 0
expect_output "web: command ran" "Linux"

OUT=$(grep '^approved ' "$ZSP_TMP/broker.log" | grep "$web_request")
expect_output "web: log records the web approval" 'by=carol'
expect_output "web: log records the sign-in method" 'auth="web_session'

# The vote keeps the provider's acr and amr in the request's events and in
# the broker's chain of the audit store.
run zspctl_as dave --json history "$web_request"
expect_status "audit: history of the web approval" 0
expect_output "audit: web vote method" '"method": "web_session"'
expect_output "audit: web vote token type" '"token_type": "id_token"'
expect_output "audit: web vote issuer" "\"issuer\": \"$ISSUER\""
expect_output "audit: web vote acr from the provider" '"acr": "urn:zsp:mfa"'
expect_output "audit: web vote amr from the provider" '"otp"'
run zspctl_as dave history "$web_request"
expect_output "audit: history table shows the sign-in" \
  "web_session acr=urn:zsp:mfa amr=pwd, otp"
run zspctl_as erin --json audit query --host zsp-broker.invalid
expect_status "audit: auditor reads the broker's chain" 0
OUT=$(printf '%s\n' "$OUT" | jq -c --arg id "$web_request" \
  '.. | objects | select(.ZSP_REQUEST? == $id)')
expect_output "audit: chain record names the web vote" \
  '"ZSP_SIGN_IN_METHOD":"web_session"'
expect_output "audit: chain record has the acr" \
  '"ZSP_SIGN_IN_ACR":"urn:zsp:mfa"'
expect_output "audit: chain record has the amr" '"ZSP_SIGN_IN_AMR":"pwd,otp"'
expect_output "audit: chain record has the address" \
  '"ZSP_SIGN_IN_REMOTE":"127.0.0.1"'
expect_output "audit: chain record has the subject" \
  '"ZSP_SIGN_IN_SUBJECT":"carol"'
web_session=$(printf '%s\n' "$OUT" | jq -r '.ZSP_SIGN_IN_SESSION // empty')
if [[ $web_session =~ ^[0-9a-f]{16}$ ]]; then
  pass "audit: chain record names the web session"
else
  fail "audit: chain record names the web session" "got '$web_session'"
fi
OUT=$(grep '^web_login ' "$ZSP_TMP/broker.log" | grep "session=$web_session")
expect_output "audit: the session's sign-in line gives the address" \
  "remote=127.0.0.1:"
run zspctl_as dave history "$web_request"
expect_output "audit: history table shows the address" "from 127.0.0.1"
run zspctl_as erin audit verify --host zsp-broker.invalid \
  --audit-key "$ZSP_BROKER_DIR/audit.pub"
expect_status "audit: the broker's chain verifies" 0

# --- the web session outlives a broker restart ---
session_cookie=$(sed -n 's/^session-cookie //p' "$ZSP_TMP/carol-web.log")
kill "$ZSP_BROKER_PID"
wait "$ZSP_BROKER_PID" 2>/dev/null
"$ZSP_BUILD/zsp-broker" serve "$ZSP_BROKER_DIR" \
  --listen "127.0.0.1:$BROKER_PORT" 2>>"$ZSP_TMP/broker.log" &
ZSP_BROKER_PID=$!
for i in $(seq 100); do
  curl -sk -o /dev/null "$ZSP_BROKER_URL/v1/health" && break
  sleep 0.05
done
run curl -sk -b "__Host-zsp-session=$session_cookie" "$ZSP_BROKER_URL/web/"
expect_output "restart: web session still signed in" \
  "Signed in as <strong>carol</strong>"
expect_output "restart: page still lists the pending request" "$pending_request"

run node "$TOOLS/browser.js" web "$ZSP_BROKER_URL" alice \
  "[{\"do\":\"expect-no-approve\",\"request\":\"$pending_request\"},
    {\"do\":\"logout-checks\"}, {\"do\":\"logout\"}]"
expect_status "web: alice's browser session" 0
expect_output "web: no approve button on own request" \
  "ok no approve button for $pending_request"
expect_output "web: GET sign-out rejected" "ok GET /web/logout rejected with 405"
expect_output "web: sign-out without CSRF token rejected" \
  "ok POST /web/logout without CSRF token rejected with 403"
expect_output "web: rejected sign-outs keep the session" \
  "ok session kept after rejected sign-outs"
expect_output "web: sign-out clears the cookie" "ok signed out and cookie cleared"
expect_output "web: old session cookie rejected after sign-out" \
  "ok old session cookie rejected after sign-out"

# A provider account whose name differs from alice's only in case is
# alice, and may not approve her request.
run node "$TOOLS/browser.js" web "$ZSP_BROKER_URL" ALICE \
  "[{\"do\":\"expect-no-approve\",\"request\":\"$pending_request\",
     \"listed\":false},
    {\"do\":\"post-approve\",\"request\":\"$pending_request\",\"status\":403,
     \"text\":\"you may not approve your own request\"}]" --mfa
expect_status "web: ALICE's browser session" 0
expect_output "web: no approve button for ALICE on alice's request" \
  "ok no approve button for $pending_request"
expect_output "web: ALICE may not approve alice's request" \
  "ok POST approve of $pending_request returned 403"

# Sign-ins in progress keep nothing in the broker, so a flood of them
# leaves room for real ones. The next browser session signs in after it.
OUT=$(curl -sk -o /dev/null -w '%{http_code}\n' \
  "$ZSP_BROKER_URL/web/?flood=[1-1500]" | sort | uniq -c | tr -s ' ')
expect_equal "flood: 1500 unauthenticated loads all sent to the provider" \
  "$OUT" " 1500 302"

# --- step-up on the web page ---
run zspctl_user alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/hostname --duration 1h --reason "step-up on the web" \
  --quiet
expect_status "web step-up: request filed" 0
step_up_request=$OUT
# The sign-in passes the provider's max_age check of 600 s, then turns
# older than max_auth_age while the page is open.
run node "$TOOLS/browser.js" web "$ZSP_BROKER_URL" carol \
  "[{\"do\":\"wait\",\"seconds\":7},
    {\"do\":\"approve-after-step-up\",\"request\":\"$step_up_request\"}]" \
  --mfa --age 595
expect_status "web step-up: carol's browser session" 0
expect_output "web step-up: an old sign-in is asked to sign in again" \
  "ok approval of $step_up_request asks for a fresh sign-in"
expect_output "web step-up: approval passes after signing in again" \
  "ok approved $step_up_request after signing in again"

run curl -sk -o /dev/null -w '%{http_code}' -X POST \
  "$ZSP_BROKER_URL/web/requests/$pending_request/approve" -d csrf=x
expect_equal "web: POST without session rejected" "$OUT" "401"
headers=$(curl -sk -D - -o /dev/null "$ZSP_BROKER_URL/web/")
OUT=$headers
expect_output "web: strict CSP" "Content-Security-Policy: default-src 'none'"
expect_output "web: login cookie is __Host- and Secure" \
  "Set-Cookie: __Host-zsp-login="
expect_output "web: cookie flags" "Secure; HttpOnly; SameSite=Lax"
expect_output "web: redirect to the provider" "Location: $ISSUER/auth?"
expect_output "web: PKCE challenge sent" "code_challenge_method=S256"
expect_output "web: sign-in bounded by max_auth_age" "&max_age=600"
expect_output "web: HSTS" "Strict-Transport-Security: max-age=31536000"

# --- the token file ---
rm -f /home/alice/.config/zsp/oidc-token
mkdir -p /home/alice/.config/zsp
ln -s /tmp/elsewhere /home/alice/.config/zsp/oidc-token
run zspctl_user alice login
expect_fail "login: token file symlink rejected"
expect_output "login: symlink message" "symbolic link"

zsp_finish
