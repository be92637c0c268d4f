#!/bin/bash
# The RPM packages from packaging/rpm/zsp.spec, built with rpmbuild on this
# Debian system (`make rpm`). Checks each package's file list (rpm -qlp),
# its scriptlets (rpm -qp --scripts) and the exported symbols of the
# packaged module and plugin. Then runs the zsp-host erase scriptlet in
# the private /etc, which must stop the erase while a pam.d file names
# pam_zsp and undo zspctl host enable-sudo in sudo.conf. The packages are built first
# unless ZSP_RPM_DIR names a directory that contains them.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

if ! command -v rpmbuild >/dev/null; then
  echo "rpm_test: rpmbuild is not installed (tests/install-deps.sh)" >&2
  exit 1
fi

rpm_dir=${ZSP_RPM_DIR:-"$ZSP_BUILD/rpm/RPMS"}
if ! ls "$rpm_dir"/*/zspctl-*.rpm >/dev/null 2>&1; then
  run make -C "$ZSP_ROOT" B="$ZSP_BUILD" rpm
  if [ "$STATUS" -ne 0 ]; then
    OUT=$(printf '%s\n' "$OUT" | tail -20)
    fail "build: make rpm" "exit status $STATUS"
    zsp_finish
  fi
  pass "build: make rpm"
fi

host_rpm=$(ls "$rpm_dir"/*/zsp-host-[0-9]*.rpm 2>/dev/null | head -1)
ctl_rpm=$(ls "$rpm_dir"/*/zspctl-[0-9]*.rpm 2>/dev/null | head -1)
broker_rpm=$(ls "$rpm_dir"/*/zsp-broker-[0-9]*.rpm 2>/dev/null | head -1)
for name in host_rpm ctl_rpm broker_rpm; do
  if [ -f "${!name}" ]; then pass "build: ${name%_rpm} package built"; else
    fail "build: ${name%_rpm} package built" "not found in $rpm_dir"
    zsp_finish
  fi
done

libdir=$(rpm --eval '%{_libdir}')
unitdir=$(rpm --eval '%{?_unitdir}')
unitdir=${unitdir:-/usr/lib/systemd/system}

# expect_files PACKAGE FILE...: each FILE is in the package's file list.
# Manual pages count with or without .gz: Fedora's rpmbuild compresses
# them, and Debian's brp-compress fails under dash and leaves them as is.
expect_files() {
  local package=$1 list name f
  shift
  list=$(rpm -qlp "$package" 2>/dev/null | sed 's/\.gz$//')
  name=$(rpm -qp --qf '%{NAME}' "$package" 2>/dev/null)
  for f in "$@"; do
    if printf '%s\n' "$list" | grep -qxF "$f"; then
      pass "files: $name has $f"
    else
      OUT=$list
      fail "files: $name has $f" "missing"
    fi
  done
}

expect_files "$host_rpm" "$libdir/security/pam_zsp.so" \
  /usr/libexec/sudo/sudo_zsp.so \
  /usr/lib/systemd/catalog/zsp.catalog /usr/lib/tmpfiles.d/zsp.conf \
  "$unitdir/zsp-audit-flush.service" "$unitdir/zsp-audit-flush.timer" \
  "$unitdir/zsp-audit-flush.path" /usr/share/pam-configs/zsp \
  /usr/share/doc/zsp/examples/zsp.conf /usr/share/doc/zsp/auditing.md \
  /usr/share/doc/zsp/examples/pam.d/login \
  /usr/share/doc/zsp/examples/pam.d/sshd \
  /usr/share/doc/zsp/examples/pam.d/su \
  /usr/share/man/man8/pam_zsp.8 /usr/share/man/man8/sudo_zsp.8 \
  /usr/share/man/man5/zsp.conf.5 /usr/sbin/zsp-agent \
  "$unitdir/zsp-agent.service" /usr/share/doc/zsp/live-sessions.md \
  /usr/share/man/man8/zsp-agent.8
expect_files "$ctl_rpm" /usr/bin/zspctl /usr/share/man/man1/zspctl.1
expect_files "$broker_rpm" /usr/sbin/zsp-broker \
  "$unitdir/zsp-broker.service" /usr/share/man/man8/zsp-broker.8

OUT=$(rpm -qlp "$host_rpm" "$ctl_rpm" "$broker_rpm" 2>/dev/null)
expect_no_output "files: no test tools packaged" "unit_tests"
expect_no_output "files: no file under /etc changed by the packages" "^/etc/"

# --- scriptlets ---
OUT=$(rpm -qp --scripts "$host_rpm" 2>/dev/null)
expect_output "scripts: host presets the audit units" \
  "zsp-audit-flush.timer zsp-audit-flush.path"
expect_output "scripts: host creates the spool directories" \
  "systemd-tmpfiles --create"
expect_output "scripts: host erase checks pam.d" "pam_zsp"
expect_output "scripts: host erase undoes enable-sudo" \
  "zspctl host disable-sudo"
expect_output "scripts: host erase stops the audit units" \
  "zsp-audit-flush.service"
expect_no_output "scripts: host never runs pam-auth-update" "pam-auth-update"
expect_no_output "scripts: host never enables sudo_zsp" "enable-sudo"
OUT=$(rpm -qp --scripts "$broker_rpm" 2>/dev/null)
expect_output "scripts: broker creates its system user" "useradd -r"
expect_output "scripts: broker presets its service" "zsp-broker.service"
expect_output "scripts: broker restarts its service on upgrade" \
  "try-restart zsp-broker.service"
OUT=$(rpm -qp --requires "$host_rpm" 2>/dev/null)
expect_output "requires: host needs zspctl to erase" "zspctl = "

zsp_private_system || exit 1

# --- the packaged binaries ---
payload=$ZSP_TMP/payload
mkdir -p "$payload"
for package in "$host_rpm" "$ctl_rpm" "$broker_rpm"; do
  (cd "$payload" && rpm2cpio "$package" | cpio -idm --quiet)
done
OUT=$(nm -D --defined-only "$payload$libdir/security/pam_zsp.so" 2>&1 |
  awk '{print $3}' | sort | tr '\n' ' ')
expect_equal "binaries: module exports only pam_sm_*" "$OUT" \
  "pam_sm_acct_mgmt pam_sm_authenticate pam_sm_close_session pam_sm_open_session pam_sm_setcred "
OUT=$(nm -D --defined-only "$payload/usr/libexec/sudo/sudo_zsp.so" |
  awk '{print $3}')
expect_equal "binaries: plugin exports only its plugin struct" \
  "$OUT" "sudo_zsp_policy"
run "$payload/usr/bin/zspctl" --help
expect_output "binaries: packaged zspctl runs" "usage"

# --- the host erase scriptlet, run in the private /etc ---
preun=$(rpm -qp --qf '%{PREUN}' "$host_rpm")
run_preun() {
  PATH="$payload/usr/bin:$PATH" sh -c "$preun" preun "$1"
}

printf 'account required pam_zsp.so\n' >/etc/pam.d/zsp-erase
run run_preun 0
expect_fail "erase: stopped while pam.d names pam_zsp"
expect_output "erase: message names the file" "/etc/pam.d/zsp-erase"
run run_preun 1
expect_status "erase: an upgrade is not stopped" 0
printf '# account required pam_zsp.so\n' >/etc/pam.d/zsp-erase

# sudo.conf as zspctl host enable-sudo leaves it (EnableSudoZsp).
cat >/etc/sudo.conf <<'EOF'
#zsp-disabled# Plugin sudoers_policy sudoers.so
# Added by zspctl host enable-sudo; zspctl host disable-sudo removes it.
Plugin sudo_zsp_policy /usr/libexec/sudo/sudo_zsp.so conf=/etc/zsp/zsp.conf
EOF
run run_preun 0
expect_status "erase: proceeds once pam.d is clean" 0
OUT=$(cat /etc/sudo.conf)
expect_equal "erase: sudo.conf restored" "$OUT" "Plugin sudoers_policy sudoers.so"
run run_preun 0
expect_status "erase: a second run finds nothing to undo" 0

zsp_finish
