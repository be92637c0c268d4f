#!/bin/bash
# The Debian packages, installed with dpkg into this Debian 12 system, made
# private by overlays of /etc, /var and /usr. Installing changes no PAM
# stack and no sudo.conf, and zspctl host check reports each problem. The
# documented commands (pam-auth-update --enable zsp, zspctl host
# enable-sudo) turn zsp on, and the real sudo and libpam then decide
# through the installed module and plugin against the installed broker.
# Purging leaves pam.d and sudo.conf exactly as they were. The packages are
# built first unless ZSP_DEB_DIR names a directory that contains them.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

deb_dir=${ZSP_DEB_DIR:-"$ZSP_BUILD/deb"}
# Packages are built again when one is missing or older than the modules,
# so that debs left from an earlier build are never tested.
need_build=0
for package in zspctl zsp-host zsp-agent libpam-zsp sudo-zsp zsp-broker; do
  deb=$(ls "$deb_dir/${package}"_*.deb 2>/dev/null | head -1)
  if [ -z "$deb" ] || [ "$ZSP_BUILD/sudo_zsp.so" -nt "$deb" ]; then
    need_build=1
  fi
done
if [ "$need_build" = 1 ]; then
  make -C "$ZSP_ROOT" B="$ZSP_BUILD" deb >"/tmp/zsp-deb-build.log" 2>&1 || {
    tail -30 /tmp/zsp-deb-build.log
    fail "build: make deb" "see /tmp/zsp-deb-build.log"
    zsp_finish
  }
fi

zsp_private_system || exit 1
mkdir -p "$ZSP_TMP/overlay/usr/upper" "$ZSP_TMP/overlay/usr/work"
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$ZSP_TMP/overlay/usr/upper,workdir=$ZSP_TMP/overlay/usr/work" /usr
package_cleanup() {
  umount -l /usr 2>/dev/null
  zsp_cleanup
}
trap package_cleanup EXIT

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
  gcc -print-multiarch)
pam_module=/lib/$multiarch/security/pam_zsp.so
plugin=/usr/libexec/sudo/sudo_zsp.so
mkdir -p "$ZSP_TMP/before"
cp -a /etc/pam.d "$ZSP_TMP/before/pam.d"
cp -a /etc/sudo.conf "$ZSP_TMP/before/sudo.conf" 2>/dev/null

# --- install ---
run dpkg -i "$deb_dir"/zsp-host_*.deb "$deb_dir"/zspctl_*.deb \
  "$deb_dir"/zsp-agent_*.deb "$deb_dir"/libpam-zsp_*.deb \
  "$deb_dir"/sudo-zsp_*.deb "$deb_dir"/zsp-broker_*.deb
expect_status "install: dpkg -i succeeds" 0
for f in "$pam_module" "$plugin" /usr/bin/zspctl /usr/sbin/zsp-broker \
  /usr/share/pam-configs/zsp /usr/lib/systemd/catalog/zsp.catalog \
  /lib/systemd/system/zsp-broker.service \
  /lib/systemd/system/zsp-audit-flush.timer /usr/lib/tmpfiles.d/zsp.conf \
  /usr/sbin/zsp-agent /lib/systemd/system/zsp-agent.service \
  /usr/share/man/man8/zsp-agent.8.gz; do
  if [ -f "$f" ]; then pass "install: $f present"; else
    fail "install: $f present" "missing"
  fi
done
run stat -c '%a %U' /var/lib/zsp/spool
expect_output "install: spool directory root-only" "700 root"
run getent passwd zsp-broker
expect_status "install: zsp-broker system user" 0
run diff -r "$ZSP_TMP/before/pam.d" /etc/pam.d
expect_status "install: pam.d unchanged" 0
run diff "$ZSP_TMP/before/sudo.conf" /etc/sudo.conf
expect_status "install: sudo.conf unchanged" 0

run systemd-analyze security --offline=yes \
  /lib/systemd/system/zsp-broker.service
level=$(printf '%s\n' "$OUT" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "zsp-broker.service exposure level: ${level:-unknown}"
if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
  pass "install: broker service sandboxed (exposure $level)"
else
  fail "install: broker service sandboxed" "exposure level ${level:-unknown}, expected 2.0 or less"
fi

# The agent must write cgroups and signal root processes as root, so its
# bound is looser than the broker's.
run systemd-analyze security --offline=yes \
  /lib/systemd/system/zsp-agent.service
level=$(printf '%s\n' "$OUT" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "zsp-agent.service exposure level: ${level:-unknown}"
if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }'; then
  pass "install: agent service sandboxed (exposure $level)"
else
  fail "install: agent service sandboxed" "exposure level ${level:-unknown}, expected 3.0 or less"
fi

# --- the installed broker and host files ---
ZSP_BUILD=$ZSP_TMP/installed
mkdir -p "$ZSP_BUILD"
ln -s /usr/sbin/zsp-broker "$ZSP_BUILD/zsp-broker"
ln -s /usr/bin/zspctl "$ZSP_BUILD/zspctl"
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
saved_sudo_conf=$(cat /etc/sudo.conf)
zsp_install_host
rm -f /etc/pam.d/zsp-test
printf '%s\n' "$saved_sudo_conf" >/etc/sudo.conf

# --- zspctl host check ---
run zspctl host check
expect_status "check: passes on a good host" 0
expect_output "check: broker verified" "signed answer verified"
expect_output "check: plugin loads" "sudo plugin $plugin: loads"

cp /etc/zsp/decision.pub "$ZSP_TMP/decision.pub"
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout \
  >/etc/zsp/decision.pub
run zspctl host check
expect_status "check: wrong decision key fails" 1
expect_output "check: names the failed verification" "answer failed verification"
expect_output "check: says what to fix" "fix: pin the broker's decision.pub"
run zspctl host enable-sudo
expect_status "check: enable-sudo refuses" 1
expect_output "check: enable-sudo leaves sudo.conf" "sudo.conf was not changed"
run diff "$ZSP_TMP/before/sudo.conf" /etc/sudo.conf
expect_status "check: sudo.conf still unchanged" 0
cp "$ZSP_TMP/decision.pub" /etc/zsp/decision.pub

# --- turn zsp on with the documented commands ---
run pam-auth-update --enable zsp
expect_status "enable: pam-auth-update --enable zsp" 0
run grep -E "pam_zsp.so" /etc/pam.d/common-account /etc/pam.d/common-session
expect_output "enable: account line" "common-account:account"
expect_output "enable: session line" "common-session:session"
zsp_line=$(grep -n pam_zsp.so /etc/pam.d/common-session | cut -d: -f1)
systemd_line=$(grep -n pam_systemd.so /etc/pam.d/common-session | cut -d: -f1)
if [ -n "$zsp_line" ] && { [ -z "$systemd_line" ] || [ "$zsp_line" -lt "$systemd_line" ]; }; then
  pass "enable: session line before pam_systemd"
else
  fail "enable: session line before pam_systemd" "pam_zsp line $zsp_line, pam_systemd line $systemd_line"
fi
run zspctl host enable-sudo
expect_status "enable: zspctl host enable-sudo" 0
run grep -c "^Plugin sudo_zsp_policy $plugin" /etc/sudo.conf
expect_output "enable: sudo.conf names the plugin" "1"

# --- decisions through the installed module and plugin ---
printf 'account include common-account\nsession include common-session\n' \
  >/etc/pam.d/zsp-pkg
run as_user alice sudo -n id
expect_fail "decide: sudo without grant denied"
expect_output "decide: sudo tells how to ask" "zspctl request"
run pamtester zsp-pkg alice acct_mgmt
expect_fail "decide: login without grant denied"

zsp_grant_sudo alice bob /usr/bin/id >/dev/null || fail "decide: setup" "sudo grant"
run as_user alice sudo -n id
expect_status "decide: sudo with grant allowed" 0
expect_output "decide: command ran as root" "uid=0(root)"
login_id=$(zspctl_as alice request --host "$ZSP_HOST" --login --duration 1h \
  --reason "packaging test" --quiet) && zspctl_as bob approve "$login_id" >/dev/null
run pamtester zsp-pkg alice acct_mgmt
expect_status "decide: login with grant allowed" 0

# --- purge ---
rm -f /etc/pam.d/zsp-pkg
run dpkg --purge libpam-zsp sudo-zsp zsp-agent zsp-host zspctl zsp-broker
expect_status "purge: dpkg --purge succeeds" 0
run diff -r "$ZSP_TMP/before/pam.d" /etc/pam.d
expect_status "purge: pam.d as before" 0
run diff "$ZSP_TMP/before/sudo.conf" /etc/sudo.conf
expect_status "purge: sudo.conf as before" 0
for f in "$pam_module" "$plugin" /usr/bin/zspctl /usr/share/pam-configs/zsp \
  /usr/sbin/zsp-agent; do
  if [ -e "$f" ]; then fail "purge: $f removed" "still there"; else
    pass "purge: $f removed"
  fi
done
run sudo -n true
expect_status "purge: root's sudo works with sudoers again" 0

zsp_finish
