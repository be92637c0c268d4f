#!/bin/bash
# A real sshd on 127.0.0.1 in the test's own network namespace, with
# pam_zsp in its account and session stacks: a public-key login works only
# under a login grant.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host

# sshd's own configuration and PAM stack, in the private /etc. Public-key
# logins skip PAM auth but run account and session, as in production.
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/zsp_test_host_key
cat >/etc/ssh/zsp_test_sshd_config <<EOF
Port 2222
ListenAddress 127.0.0.1
HostKey /etc/ssh/zsp_test_host_key
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd-zsp-test.pid
LogLevel VERBOSE
EOF
cat >/etc/pam.d/sshd <<EOF
auth     required pam_deny.so
account  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
account  required pam_unix.so
session  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
session  required pam_unix.so
EOF

for user in alice bob; do
  install -d -m 700 -o "$user" -g "$user" "/home/$user/.ssh"
  as_user "$user" ssh-keygen -q -t ed25519 -N '' -f "/home/$user/.ssh/id_ed25519"
  install -m 600 -o "$user" -g "$user" "/home/$user/.ssh/id_ed25519.pub" \
    "/home/$user/.ssh/authorized_keys"
done

/usr/sbin/sshd -D -e -f /etc/ssh/zsp_test_sshd_config 2>"$ZSP_TMP/sshd.log" &
sshd_pid=$!
trap 'kill $sshd_pid 2>/dev/null; zsp_cleanup' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/2222) 2>/dev/null && break
  sleep 0.05
done

ssh_as() {
  local who=$1
  shift
  as_user "$who" ssh -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -i "/home/$who/.ssh/id_ed25519" "$who@127.0.0.1" "$@"
}

run ssh_as alice id -un
expect_fail "no grant: key login rejected"
expect_no_output "no grant: no shell ran" "alice"

id=$(zspctl_as alice request --host "$ZSP_HOST" --login --duration 1h \
  --reason "sshd test" --quiet)
zspctl_as bob approve "$id" >/dev/null

run ssh_as alice 'id -un; echo "grant=$ZSP_GRANT_ID"'
expect_status "grant: key login accepted" 0
expect_output "grant: shell ran as alice" "alice"
expect_output "grant: session has ZSP_GRANT_ID" "grant=g-"

run ssh_as bob id -un
expect_fail "grant: other user still rejected"

grant=$(zspctl_as alice --json status "$id" | grep -o 'g-[0-9a-f]*' | head -1)
zspctl_as alice revoke "$grant" >/dev/null
run ssh_as alice id -un
expect_fail "revoke: key login rejected after revocation"

OUT=$(zsp_journal_json -t pam_zsp ZSP_SERVICE=sshd ZSP_DECISION=deny)
expect_output "journal: sshd denial recorded" '"ZSP_RHOST":"127.0.0.1"'

zsp_finish
