#!/bin/bash
# pam_zsp under the service names it meets in production (sshd, login, su,
# sudo, cron, a screen locker), with and without PAM_RHOST and PAM_TTY,
# with hostile PAM_RHOST values; PAM_IGNORE for what the arguments place
# out of scope; argument errors; and the optional auth phase that files a
# request and waits for approval. Real libpam through pamtester, the real
# broker over mutual TLS, a private journald.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
# Send pam_syslog lines to the private journald: /dev/log becomes a link
# to its syslog socket in a private overlay of /dev.
mkdir -p "$ZSP_TMP/overlay/dev/upper" "$ZSP_TMP/overlay/dev/work"
mount -t overlay overlay -o "lowerdir=/dev,upperdir=$ZSP_TMP/overlay/dev/upper,workdir=$ZSP_TMP/overlay/dev/work" /dev
ln -sf /run/systemd/journal/dev-log /dev/log

zsp_add_users alice bob carol
zsp_start_broker alice bob:approver carol || exit 1
zsp_install_host
MODULE="$ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf"

login_grant() {
  local who=$1 id
  id=$(zspctl_as "$who" request --host "$ZSP_HOST" --login \
    --duration "${2:-1h}" --reason "services test" --quiet) || return 1
  zspctl_as bob approve "$id" >/dev/null || return 1
  echo "$id"
}

# Syslog lines from pam_syslog, as journald received them.
syslog_text() {
  journalctl --sync 2>/dev/null || sleep 0.3
  journalctl --no-pager -o cat 2>/dev/null
}

# --- the services, each with pam_zsp in account and session ---
services="sshd login su sudo cron xscreensaver"
for svc in $services; do
  printf 'account  required %s\nsession  required %s\n' "$MODULE" "$MODULE" \
    >"/etc/pam.d/$svc"
done

for svc in $services; do
  run pamtester "$svc" alice acct_mgmt
  expect_fail "$svc: no grant: account denied"
  expect_output "$svc: no grant: PAM_PERM_DENIED" "Permission denied"
  run pamtester -I rhost=192.0.2.9 -I tty=pts/1 "$svc" alice open_session
  expect_fail "$svc: no grant: session denied"
done

login_grant alice >/dev/null || fail "setup" "alice's grant failed"
for svc in $services; do
  run pamtester "$svc" alice acct_mgmt
  expect_status "$svc: grant, no rhost or tty: account allowed" 0
  run pamtester -I rhost=192.0.2.9 "$svc" alice acct_mgmt
  expect_status "$svc: grant, rhost only: account allowed" 0
  run pamtester -I tty=/dev/tty1 "$svc" alice acct_mgmt
  expect_status "$svc: grant, tty only: account allowed" 0
  run pamtester -I rhost=192.0.2.9 -I tty=pts/1 "$svc" alice acct_mgmt \
    open_session close_session
  expect_status "$svc: grant, rhost and tty: account and session" 0
  run pamtester "$svc" bob acct_mgmt
  expect_fail "$svc: grant is alice's: bob denied"
done

# Whose grant: always PAM_USER. In su that is the target account; the
# invoking user (PAM_RUSER) neither helps nor hurts.
run pamtester -I ruser=alice -I tty=pts/2 su bob acct_mgmt
expect_fail "su: alice becoming bob needs bob's grant"
run pamtester -I ruser=bob -I tty=pts/2 su alice acct_mgmt
expect_status "su: bob becoming alice uses alice's grant" 0
OUT=$(zsp_journal_json ZSP_SERVICE=su ZSP_USER=bob ZSP_DECISION=deny)
expect_output "su: journal names the target as ZSP_USER" '"ZSP_RUSER":"alice"'
# In sudo (when sudo uses PAM) PAM_USER is the invoking user.
run pamtester -I ruser=alice sudo alice acct_mgmt
expect_status "sudo: the invoking user's login grant is checked" 0

# --- PAM_RHOST is untrusted text, never resolved ---
hostile=$(printf 'x\033[31mred\nforged: line')
long=$(head -c 5000 /dev/zero | tr '\0' r)
for rhost in UNKNOWN 2001:db8::7 "[2001:db8::7]:22" host.example.invalid \
  "a b;c|d" "$hostile" "$long"; do
  run pamtester -I "rhost=$rhost" sshd alice acct_mgmt
  expect_status "rhost \"${rhost:0:24}\": grant still decides" 0
  expect_faster "rhost \"${rhost:0:24}\": no lookup delay" 2000
done
OUT=$(zsp_journal_json ZSP_SERVICE=sshd ZSP_DECISION=allow | grep 'forged')
expect_output "rhost: control characters escaped in the journal" 'x\\x1b[31mred\\x0aforged'
expect_no_output "rhost: no raw escape in the journal" $'\033'
run pamtester -I "rhost=$hostile" sshd bob acct_mgmt
expect_fail "rhost: hostile rhost does not help bob"

# --- PAM_IGNORE only for what the arguments place out of scope ---
# A stack where only PAM_IGNORE from pam_zsp reaches pam_permit.
for svc in zsp-ignore zsp-cron; do
  cat >"/etc/pam.d/$svc" <<STACK
account  [ignore=1 default=die] $MODULE skip_users=carol,daemon skip_services=zsp-cron
account  requisite pam_deny.so
account  required  pam_permit.so
session  [ignore=1 default=die] $MODULE skip_users=carol
session  requisite pam_deny.so
session  required  pam_permit.so
STACK
done
run pamtester zsp-ignore carol acct_mgmt open_session close_session
expect_status "skip_users: carol is PAM_IGNORE in account and session" 0
run pamtester zsp-ignore bob acct_mgmt
expect_fail "skip_users: bob is not skipped and has no grant"
run pamtester zsp-ignore alice acct_mgmt
expect_fail "skip_users: alice's grant is PAM_SUCCESS, not PAM_IGNORE"
run pamtester zsp-cron bob acct_mgmt
expect_status "skip_services: zsp-cron is PAM_IGNORE" 0
OUT=$(syslog_text)
expect_output "skip: logged as out of scope" "skip user=carol service=zsp-ignore"

# --- argument errors are PAM_SERVICE_ERR with a line naming the argument ---
for arg in skip_user=carol skip_users= "skip_users=a,,b" Debug conf=relative \
  request=yes; do
  printf 'account required %s %s\nauth required %s %s\nsession required %s %s\n' \
    "$MODULE" "$arg" "$MODULE" "$arg" "$MODULE" "$arg" >/etc/pam.d/zsp-args
  run pamtester zsp-args alice acct_mgmt
  expect_output "argument \"$arg\": account PAM_SERVICE_ERR" "Error in service module"
  run pamtester zsp-args carol open_session
  expect_output "argument \"$arg\": session PAM_SERVICE_ERR" "Error in service module"
  run pamtester zsp-args alice authenticate </dev/null
  expect_output "argument \"$arg\": auth PAM_SERVICE_ERR" "Error in service module"
done
OUT=$(syslog_text)
expect_output "argument: log names skip_user=carol" '"skip_user=carol"'
expect_output "argument: log names Debug" '"Debug"'

# --- the auth phase ---
zsp_write_config "$ZSP_BROKER_URL" "request_wait = 6s"
printf 'auth required %s\n' "$MODULE" >/etc/pam.d/zsp-noauth
run pamtester zsp-noauth alice authenticate </dev/null
expect_output "auth: off unless configured (PAM_SERVICE_ERR)" "Error in service module"

printf 'auth     required %s request\naccount  required %s\n' \
  "$MODULE" "$MODULE" >/etc/pam.d/zsp-auth
run pamtester zsp-auth alice authenticate </dev/null
expect_status "auth: with a grant, PAM_SUCCESS without a prompt" 0
expect_no_output "auth: with a grant, no prompt" "reason"

run pamtester zsp-auth carol authenticate </dev/null
expect_fail "auth: failed conversation (EOF) denies"
expect_output "auth: failed conversation is PAM_AUTH_ERR" "Authentication failure"
run pamtester zsp-auth carol "authenticate(PAM_SILENT)" </dev/null
expect_fail "auth: PAM_SILENT cannot prompt and denies"
run bash -c "echo | pamtester zsp-auth carol authenticate"
expect_fail "auth: empty reason denies"
OUT=$(zspctl_as bob --json list)
expect_no_output "auth: nothing filed without a reason" '"requester":"carol"'

# approver ACTION: bob approves or denies the first pending request.
approver() {
  local id
  for _ in $(seq 60); do
    id=$(zspctl_as bob --json list --state pending 2>/dev/null |
      grep -o 'r-[0-9a-f]*' | head -1)
    if [ -n "$id" ]; then
      zspctl_as bob "$1" "$id" >/dev/null
      echo "$id"
      return 0
    fi
    sleep 0.2
  done
  return 1
}

approver approve >"$ZSP_TMP/approved.id" &
run bash -c "echo 'deploy hotfix' | pamtester zsp-auth carol authenticate acct_mgmt"
wait $!
expect_status "auth: request filed, approved, then allowed" 0
approved=$(cat "$ZSP_TMP/approved.id")
expect_output "auth: shows the request id" "${approved:-r-none}"
OUT=$(zspctl_as bob --json status "${approved:-r-none}")
expect_output "auth: the request carries the reason" '"reason": "deploy hotfix"'

zspctl_as carol --json grants --active | grep -o 'g-[0-9a-f]*' |
  sort -u | while read -r g; do zspctl_as carol revoke "$g" >/dev/null; done
run pamtester zsp-auth carol acct_mgmt
expect_fail "auth: setup: carol's grant revoked"

approver deny >/dev/null &
run bash -c "echo 'please' | pamtester zsp-auth carol authenticate"
wait $!
expect_fail "auth: denied request denies"
expect_output "auth: denied request is PAM_AUTH_ERR" "Authentication failure"

run bash -c "echo 'nobody answers' | pamtester zsp-auth carol authenticate"
expect_fail "auth: no decision within request_wait denies"
expect_faster "auth: the wait is bounded by request_wait" 12000
OUT=$(zspctl_as bob --json list --state cancelled)
expect_output "auth: the unanswered request was cancelled" "nobody answers"

"$ZSP_BUILD/tcp_blackhole" >"$ZSP_TMP/blackhole.port" &
ZSP_BLACKHOLE_PID=$!
for _ in $(seq 50); do [ -s "$ZSP_TMP/blackhole.port" ] && break; sleep 0.05; done
zsp_write_config "https://127.0.0.1:$(cat "$ZSP_TMP/blackhole.port")" "request_wait = 6s"
run bash -c "echo 'reason' | pamtester zsp-auth carol authenticate"
expect_fail "auth: unreachable broker denies"
expect_output "auth: unreachable broker is PAM_AUTHINFO_UNAVAIL" "cannot retrieve authentication info"

zsp_finish
