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

# sshd's PAM stack in the private /etc, with pam_zsp in its account and
# session stacks.
cat >/etc/pam.d/sshd <<EOF
auth     required pam_deny.so
account  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
account  required pam_unix.so
session  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
session  required pam_unix.so
EOF
zsp_start_sshd alice bob || exit 1

run zsp_ssh_as alice id -un
expect_fail "no grant: key login rejected"
expect_no_output "no grant: no shell ran" "alice"

id=$(zsp_grant_login alice bob)

run zsp_ssh_as alice 'id -un; echo "grant=$ZSP_GRANT_ID"'
expect_status "grant: key login accepted" 0
expect_output "grant: shell ran as alice" "alice"
expect_output "grant: session has ZSP_GRANT_ID" "grant=g-"

run zsp_ssh_as bob id -un
expect_fail "grant: other user still rejected"

grant=$(zsp_grant_of alice "$id")
zspctl_as alice revoke "$grant" >/dev/null
run zsp_ssh_as alice id -un
expect_fail "revoke: key login rejected after revocation"

OUT=$(zsp_journal_json -t pam_zsp ZSP_SERVICE=sshd ZSP_DECISION=deny)
expect_output "journal: sshd denial recorded" '"ZSP_RHOST":"127.0.0.1"'

zsp_finish
