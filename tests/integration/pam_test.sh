#!/bin/bash
# pam_zsp through the real libpam (pamtester on a private /etc/pam.d
# service), against the real broker over mutual TLS, with a private
# journald. Runs in its own mount namespace.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host

login_allow_id=bdbc6db5ebfa4a03a27caa34fbeb9b63
login_deny_id=4e4bf9fcf87144628e23eff6a0aff072
session_open_id=476bb378915e4640b999ffff0c969cb9

pam() {
  pamtester -I rhost=192.0.2.7 -I tty=pts/3 zsp-test "$@"
}

login_grant() {
  local id
  id=$(zspctl_as alice request --host "$ZSP_HOST" --login \
    --duration "${1:-1h}" --reason "pam test" --quiet) || return 1
  zspctl_as bob approve "$id" >/dev/null || return 1
  echo "$id"
}

# --- no grant ---
run pam alice acct_mgmt
expect_fail "no grant: account denied"
expect_output "no grant: PAM_PERM_DENIED" "Permission denied"

run pam alice open_session
expect_fail "no grant: session denied as backstop"

OUT=$(zsp_journal_json MESSAGE_ID=$login_deny_id ZSP_USER=alice)
expect_output "no grant: journal deny record" '"ZSP_DECISION":"deny"'
expect_output "no grant: journal has service" '"ZSP_SERVICE":"zsp-test"'
expect_output "no grant: journal has remote host" '"ZSP_RHOST":"192.0.2.7"'
expect_output "no grant: journal has reason" '"ZSP_REASON":"no_grant"'

# A sudo grant is not a login grant.
sudo_id=$(zspctl_as alice request --host "$ZSP_HOST" --sudo \
  --command /usr/bin/id --duration 1h --reason "pam test" --quiet)
zspctl_as bob approve "$sudo_id" >/dev/null
run pam alice acct_mgmt
expect_fail "scope: sudo grant does not allow login"

# --- approved login grant ---
request=$(login_grant 1h) || fail "grant: request" "request failed"
run pam alice acct_mgmt
expect_status "grant: account allowed" 0
run pam alice open_session close_session
expect_status "grant: session opens and closes" 0
run pam bob acct_mgmt
expect_fail "scope: other user denied"

OUT=$(zsp_journal_json MESSAGE_ID=$login_allow_id ZSP_USER=alice)
expect_output "grant: journal allow record" '"ZSP_DECISION":"allow"'
expect_output "grant: journal names request" "\"ZSP_REQUEST\":\"$request\""
OUT=$(zsp_journal_json MESSAGE_ID=$session_open_id ZSP_USER=alice)
expect_output "grant: journal session record" '"ZSP_GRANT":"g-'

# --- revocation ---
grant=$(zspctl_as alice --json status "$request" | grep -o 'g-[0-9a-f]*' | head -1)
run zspctl_as alice revoke "$grant"
expect_status "revoke: grant revoked" 0
run pam alice acct_mgmt
expect_fail "revoke: account denied"
expect_output "revoke: PAM_PERM_DENIED" "Permission denied"

# --- expiry ---
login_grant 2s >/dev/null
run pam alice acct_mgmt
expect_status "expiry: allowed while the grant lasts" 0
sleep 3
run pam alice acct_mgmt
expect_fail "expiry: account denied after expiry"
expect_output "expiry: PAM_ACCT_EXPIRED" "User account has expired"

# --- failures fail closed ---
login_grant 1h >/dev/null
run pam alice acct_mgmt
expect_status "signature: control run allowed" 0
cp /etc/zsp/decision.pub "$ZSP_TMP/decision.pub.real"
"$ZSP_BUILD/zsp-broker" init "$ZSP_TMP/other-broker" --host "$ZSP_HOST" >/dev/null 2>&1
install -m 644 "$ZSP_TMP/other-broker/decision.pub" /etc/zsp/decision.pub
run pam alice acct_mgmt
expect_fail "signature: unknown key denied"
expect_output "signature: PAM_AUTHINFO_UNAVAIL" "cannot retrieve authentication info"
install -m 644 "$ZSP_TMP/decision.pub.real" /etc/zsp/decision.pub

"$ZSP_BUILD/tcp_blackhole" >"$ZSP_TMP/blackhole.port" &
ZSP_BLACKHOLE_PID=$!
for _ in $(seq 50); do [ -s "$ZSP_TMP/blackhole.port" ] && break; sleep 0.05; done
zsp_write_config "https://127.0.0.1:$(cat "$ZSP_TMP/blackhole.port")"
run pam alice acct_mgmt
expect_fail "unreachable: silent broker denied"
expect_output "unreachable: PAM_AUTHINFO_UNAVAIL" "cannot retrieve authentication info"
expect_faster "unreachable: denied within the configured timeout" 3500

zsp_write_config "$ZSP_BROKER_URL" "timeout_ms = soon"
run pam alice acct_mgmt
expect_fail "config: invalid value denied"
expect_output "config: PAM_SERVICE_ERR" "Error in service module"

zsp_write_config "$ZSP_BROKER_URL"
sed -i 's|conf=/etc/zsp/zsp.conf|conf=/etc/zsp/zsp.conf bogus_option|' /etc/pam.d/zsp-test
run pam alice acct_mgmt
expect_fail "config: unknown module argument denied"
expect_output "config: unknown argument is PAM_SERVICE_ERR" "Error in service module"
sed -i 's| bogus_option||' /etc/pam.d/zsp-test

run pam alice acct_mgmt
expect_status "recovery: allowed again with good config" 0

# A stopped journald takes no entries once its socket queue is full
# (net.unix.max_dgram_qlen). The login is then denied after the journal
# send times out, and neither hangs nor is allowed without a record.
zsp_stall_journald
started=$(date +%s)
run timeout -k 5 40 pamtester -I rhost=192.0.2.7 -I tty=pts/3 zsp-test \
  alice acct_mgmt
took=$(( $(date +%s) - started ))
kill -CONT "$ZSP_JOURNALD_PID"
expect_status "journal: stopped journald denies the login" 1
expect_output "journal: user told the decision was not recorded" \
  "the decision could not be recorded"
expect_equal "journal: denied within 15 s" "$([ "$took" -le 15 ] && echo yes)" yes
run pam alice acct_mgmt
expect_status "journal: allowed again once journald runs" 0

zsp_finish
