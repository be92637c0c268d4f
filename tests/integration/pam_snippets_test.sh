#!/bin/bash
# The shipped PAM configuration through the real libpam (pamtester): the
# sshd, su and login files in packaging/pam.d and the pam-auth-update
# profile in
# packaging/pam-configs, each installed into the private /etc with the
# module path pointed at this build. pam_zsp must deny when the broker
# denies, even where the rest of the stack allows, and pam_nologin,
# pam_access and pam_unix must keep denying when the broker allows.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob carol dave
zsp_start_broker alice bob:approver carol dave || exit 1
zsp_install_host

# Installs shipped file $1 as /etc/pam.d/$2 with pam_zsp from this build.
install_service() {
  sed "s|pam_zsp\.so|$ZSP_BUILD/pam_zsp.so|" "$1" >"/etc/pam.d/$2"
}

login_grant() {
  local who=$1 id
  id=$(zspctl_as "$who" request --host "$ZSP_HOST" --login --duration 1h \
    --reason "snippet test" --quiet) || return 1
  zspctl_as bob approve "$id" >/dev/null
}

install_service "$ZSP_ROOT/packaging/pam.d/sshd" zsp-sshd
install_service "$ZSP_ROOT/packaging/pam.d/su" zsp-su
install_service "$ZSP_ROOT/packaging/pam.d/login" zsp-login

# --- sshd stanza ---
run pamtester zsp-sshd alice acct_mgmt
expect_fail "sshd: no grant denies although pam_unix allows"
expect_output "sshd: denial is PAM_PERM_DENIED" "Permission denied"

login_grant alice || fail "sshd: grant" "request failed"
run pamtester -I rhost=2001:db8::5 zsp-sshd alice acct_mgmt
expect_status "sshd: grant allows the account phase" 0
run pamtester zsp-sshd alice open_session close_session
expect_status "sshd: session opens and closes under the grant" 0

touch /etc/nologin
run pamtester zsp-sshd alice acct_mgmt
expect_fail "sshd: pam_nologin still denies with a grant"
rm -f /etc/nologin

login_grant carol || fail "sshd: grant carol" "request failed"
run pamtester zsp-sshd carol acct_mgmt
expect_status "sshd: carol allowed before her account expires" 0
chage -E 0 carol
run pamtester zsp-sshd carol acct_mgmt
expect_fail "sshd: pam_unix still denies an expired account"
chage -E -1 carol

# --- login stanza: console logins carry PAM_TTY and usually no PAM_RHOST ---
echo 'dave:login-test-password' | chpasswd
run pamtester zsp-login dave acct_mgmt
expect_fail "login: no grant, no tty: denied"
expect_output "login: denial is PAM_PERM_DENIED" "Permission denied"
run pamtester -I tty=tty1 zsp-login dave acct_mgmt
expect_fail "login: no grant, tty1: denied"
run pamtester -I tty=ttyS0 -I rhost=192.0.2.44 zsp-login dave acct_mgmt
expect_fail "login: no grant, tty and rhost: denied"
run pamtester -I tty=tty1 zsp-login dave open_session
expect_fail "login: no grant: session denied"
# The password is right, so only pam_zsp can deny here.
run pamtester -I tty=tty1 zsp-login dave authenticate <<<'login-test-password'
expect_status "login: no grant: password still accepted" 0

login_grant dave || fail "login: grant" "request failed"
run pamtester zsp-login dave acct_mgmt
expect_status "login: grant, no tty or rhost: allowed" 0
run pamtester -I tty=tty1 zsp-login dave acct_mgmt
expect_status "login: grant, tty only: allowed" 0
run pamtester -I rhost=UNKNOWN zsp-login dave acct_mgmt
expect_status "login: grant, rhost only: allowed" 0
run pamtester -I tty=ttyS0 -I rhost=2001:db8::9 zsp-login dave acct_mgmt
expect_status "login: grant, tty and rhost: allowed" 0
run pamtester -I tty=tty1 zsp-login dave open_session close_session
expect_status "login: grant: session opens and closes" 0
OUT=$(zsp_journal_json ZSP_SERVICE=zsp-login ZSP_USER=dave ZSP_DECISION=allow)
expect_output "login: journal records the tty" '"ZSP_TTY":"ttyS0"'
expect_output "login: journal records the rhost" '"ZSP_RHOST":"2001:db8::9"'

touch /etc/nologin
run pamtester -I tty=tty1 zsp-login dave authenticate <<<'login-test-password'
expect_fail "login: pam_nologin still denies with a grant"
rm -f /etc/nologin
run pamtester -I tty=tty1 zsp-login dave authenticate <<<'wrong-password'
expect_fail "login: pam_unix still rejects a wrong password"

# pam_access is shipped commented out, as in Debian's own file; enabled,
# it must still deny a user that pam_zsp allows.
sed -i 's|^# account  required       pam_access.so|account  required pam_access.so|' \
  /etc/pam.d/zsp-login
echo '-:dave:tty1' >>/etc/security/access.conf
run pamtester -I tty=tty1 zsp-login dave acct_mgmt
expect_fail "login: pam_access still denies with a grant"
run pamtester -I tty=tty2 zsp-login dave acct_mgmt
expect_status "login: pam_access allows another tty" 0
install_service "$ZSP_ROOT/packaging/pam.d/login" zsp-login

chage -E 0 dave
run pamtester -I tty=tty1 zsp-login dave acct_mgmt
expect_fail "login: pam_unix still denies an expired account"
chage -E -1 dave

# --- su stanza: PAM_USER is the target ---
run pamtester zsp-su bob acct_mgmt
expect_fail "su: target without a grant denied"
run pamtester zsp-su alice acct_mgmt
expect_status "su: target with a grant allowed" 0
run pamtester -I ruser=bob zsp-su alice acct_mgmt
expect_status "su: the invoker's grant does not matter" 0
OUT=$(zsp_journal_json ZSP_SERVICE=zsp-su ZSP_USER=alice ZSP_DECISION=allow)
expect_output "su: journal names the invoking user" '"ZSP_RUSER":"bob"'

# --- pam-auth-update profile ---
# The profiles live under /usr, which the harness does not overlay, so a
# private tmpfs gets copies of the real ones plus zsp's.
profiles=$ZSP_TMP/pam-configs
mkdir -p "$profiles"
cp -a /usr/share/pam-configs/. "$profiles/"
mount -t tmpfs tmpfs /usr/share/pam-configs
cp -a "$profiles/." /usr/share/pam-configs/
install -m 644 "$ZSP_ROOT/packaging/pam-configs/zsp" /usr/share/pam-configs/zsp
run pam-auth-update --package --enable zsp
expect_status "profile: pam-auth-update accepts it" 0
OUT=$(cat /etc/pam.d/common-account)
expect_output "profile: account line added" "required	pam_zsp.so"
zsp_line=$(grep -n 'pam_zsp.so' /etc/pam.d/common-session | cut -d: -f1)
systemd_line=$(grep -n 'pam_systemd.so' /etc/pam.d/common-session | cut -d: -f1)
if [ -n "$zsp_line" ] && [ -n "$systemd_line" ] &&
  [ "$zsp_line" -lt "$systemd_line" ]; then
  pass "profile: session line comes before pam_systemd"
else
  fail "profile: session line comes before pam_systemd" \
    "pam_zsp at line '$zsp_line', pam_systemd at '$systemd_line'"
fi
sed -i "s|pam_zsp\.so|$ZSP_BUILD/pam_zsp.so|" /etc/pam.d/common-account \
  /etc/pam.d/common-session /etc/pam.d/common-session-noninteractive
printf '@include common-account\n@include common-session\n' \
  >/etc/pam.d/zsp-common
run pamtester zsp-common bob acct_mgmt
expect_fail "profile: no grant denies through common-account"
run pamtester zsp-common alice acct_mgmt
expect_status "profile: grant allows through common-account" 0
run pamtester zsp-common bob open_session
expect_fail "profile: session without a grant fails through common-session"
# pam-auth-update leaves files alone that were edited since it wrote
# them, so the module path goes back first.
sed -i "s|$ZSP_BUILD/pam_zsp\.so|pam_zsp.so|" /etc/pam.d/common-account \
  /etc/pam.d/common-session /etc/pam.d/common-session-noninteractive
run pam-auth-update --package --remove zsp
expect_status "profile: pam-auth-update removes it" 0
OUT=$(cat /etc/pam.d/common-account /etc/pam.d/common-session)
expect_no_output "profile: no pam_zsp line after removal" "pam_zsp"
umount /usr/share/pam-configs

zsp_finish
