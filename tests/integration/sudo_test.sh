#!/bin/bash
# sudo_zsp through the real sudo binary, against the real broker over
# mutual TLS, with a private journald. Runs in its own mount namespace.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host

sudo_deny_id=e4fcdd60972f4768ace9012fa6cef4f7
sudo_allow_id=34880e3274ec4b8197a9866f02897fbe

# --- no grant ---
run as_user alice sudo -n id
expect_fail "no grant: sudo -n id denied"
expect_output "no grant: user told there is no grant" "no active grant"
expect_output "no grant: user told how to ask" "zspctl request"
expect_no_output "no grant: command did not run" "uid=0"

stdout=$(as_user alice sudo -n id 2>/dev/null)
expect_equal "no grant: nothing on stdout" "$stdout" ""

journal=$(zsp_journal_json MESSAGE_ID=$sudo_deny_id ZSP_USER=alice)
OUT=$journal
expect_output "no grant: journal has deny record" '"ZSP_DECISION":"deny"'
expect_output "no grant: journal names command" '"ZSP_COMMAND":"/usr/bin/id"'
expect_output "no grant: journal names run-as" '"ZSP_RUNAS":"root"'
expect_output "no grant: journal has reason" '"ZSP_REASON":"no_grant"'
expect_output "no grant: message names the command" \
  '"MESSAGE":"deny user=alice reason=no_grant command=id"'

# --- approval workflow ---
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/id --duration 1h --reason "check uid" --quiet
expect_status "request: filed" 0
request=$OUT

run zspctl_as alice approve "$request"
expect_fail "approve: own request rejected"
expect_output "approve: own request message" "own request"

run as_user alice sudo -n id
expect_fail "pending: sudo still denied"

run zspctl_as bob approve "$request"
expect_status "approve: approver succeeds" 0

run as_user alice sudo -n id
expect_status "grant: sudo -n id allowed" 0
expect_output "grant: command ran as root" "uid=0(root)"

journal=$(zsp_journal_json MESSAGE_ID=$sudo_allow_id ZSP_USER=alice)
OUT=$journal
expect_output "grant: journal has allow record" '"ZSP_DECISION":"allow"'
expect_output "grant: journal names grant" '"ZSP_GRANT":"g-'
expect_output "grant: journal names request" "\"ZSP_REQUEST\":\"$request\""
expect_output "grant: journal has timeout" '"ZSP_TIMEOUT":"'

run as_user alice sudo -n id -u
expect_status "grant: path-only entry allows arguments" 0
expect_output "grant: arguments passed" "0"

run as_user alice sudo -n whoami
expect_fail "scope: other command denied"

run as_user alice sudo -n -u bob id
expect_fail "scope: other run-as user denied"

run as_user bob sudo -n id
expect_fail "scope: other user denied"

run as_user alice sudo -n FOO=bar id
expect_fail "env: VAR=value denied"
expect_output "env: user told why" "environment variables"

run as_user alice sudo -n -E id
expect_fail "env: -E denied"

run as_user alice sudo -l
expect_status "list: sudo -l succeeds" 0
expect_output "list: shows the granted command" "(root) /usr/bin/id"
expect_output "list: names the grant" "[grant g-"
stdout=$(as_user alice sudo -l 2>/dev/null)
OUT=$stdout
expect_output "list: listing is on stdout" "/usr/bin/id"

run as_user bob sudo -l
expect_status "list: user without grants gets an answer" 0
expect_output "list: user told there is no grant" "no active zsp grant"

run as_user alice sudo -v
expect_status "validate: sudo -v with a grant" 0
run as_user bob sudo -v
expect_fail "validate: sudo -v without a grant"
expect_output "validate: user told why" "no active grant"

run as_user alice sudo -l id
expect_status "list: granted command listed" 0
expect_output "list: prints resolved path" "/usr/bin/id"

run as_user alice sudo -l whoami
expect_fail "list: command without grant not listed"

run as_user alice sudo -l
expect_status "list: sudo -l lists grants" 0
expect_output "list: sudo -l names the grant" "[grant g-"
expect_no_output "list: sudo -l has no approver line" "approved by"
run as_user alice sudo -ll
expect_status "list: sudo -ll lists grants" 0
expect_output "list: sudo -ll names the approver" "approved by bob"

run as_user alice sudo -n -e /etc/hosts
expect_fail "sudoedit: sudo -e rejected"
expect_output "sudoedit: user told it is unsupported" \
  "sudoedit (sudo -e) is not supported"

# SSLKEYLOGFILE would make libcurl, running as root inside sudo, append
# TLS secrets to a file the user picks.
as_user alice env SSLKEYLOGFILE=/tmp/zsp-keylog-test sudo -n id >/dev/null 2>&1
if [ -e /tmp/zsp-keylog-test ]; then
  fail "env: SSLKEYLOGFILE ignored" "file was written"
  rm -f /tmp/zsp-keylog-test
else
  pass "env: SSLKEYLOGFILE ignored"
fi

# Environment of the command: reset, secure_path, grant facts.
env_request=$(zsp_grant_sudo alice bob /usr/bin/env) || fail "env: grant" "request failed"
run as_user alice env LD_PRELOAD=/tmp/evil.so PATH=/tmp/evil:/usr/bin sudo -n env
expect_status "env: sudo env allowed" 0
expect_no_output "env: LD_PRELOAD dropped" "LD_PRELOAD"
expect_output "env: PATH is secure_path" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
expect_output "env: SUDO_USER set" "SUDO_USER=alice"
expect_output "env: ZSP_GRANT_ID set" "ZSP_GRANT_ID=g-"
expect_output "env: HOME is target's" "HOME=/root"

# --- revocation ---
grant=$(zspctl_as alice --json status "$request" | grep -o '"grant": *"g-[0-9a-f]*"' | grep -o 'g-[0-9a-f]*')
run zspctl_as alice revoke "$grant" --reason "done"
expect_status "revoke: requester revokes own grant" 0
run as_user alice sudo -n id
expect_fail "revoke: sudo denied after revocation"
expect_output "revoke: user told it was revoked" "revoked"

# --- expiry and the time limit ---
zsp_grant_sudo alice bob /usr/bin/sleep 3s >/dev/null ||
  fail "timeout: grant" "request failed"
run as_user alice sudo -n sleep 30
expect_fail "timeout: command killed at grant end"
expect_faster "timeout: killed within grant time" 10000
sleep 1
run as_user alice sudo -n sleep 1
expect_fail "expired: sudo denied after expiry"
expect_output "expired: user told it expired" "expired"

# --- failures fail closed ---
cp /etc/zsp/decision.pub "$ZSP_TMP/decision.pub.real"
zsp_grant_sudo alice bob /usr/bin/id >/dev/null
run as_user alice sudo -n id
expect_status "signature: control run allowed" 0
"$ZSP_BUILD/zsp-broker" init "$ZSP_TMP/other-broker" --host "$ZSP_HOST" >/dev/null 2>&1
install -m 644 "$ZSP_TMP/other-broker/decision.pub" /etc/zsp/decision.pub
run as_user alice sudo -n id
expect_fail "signature: unknown key denied"
expect_output "signature: user told verification failed" "failed verification"
OUT=$(zsp_journal_json ZSP_ALERT=invalid-decision)
expect_output "signature: journal flags invalid decision" '"ZSP_VERDICT":"invalid"'
install -m 644 "$ZSP_TMP/decision.pub.real" /etc/zsp/decision.pub

# A decision key that a user other than root could replace is not trusted.
chmod 664 /etc/zsp/decision.pub
run as_user alice sudo -n id
expect_fail "key file: group-writable decision_key denied"
expect_output "key file: user told to check decision_key" "check decision_key"
OUT=$(zsp_journal_json SYSLOG_IDENTIFIER=sudo_zsp | tail -n1)
expect_output "key file: journal names the mode" "writable by group or others"
chmod 644 /etc/zsp/decision.pub
chown nobody /etc/zsp/decision.pub
run as_user alice sudo -n id
expect_fail "key file: decision_key owned by nobody denied"
OUT=$(zsp_journal_json SYSLOG_IDENTIFIER=sudo_zsp | tail -n1)
expect_output "key file: journal names the owner" "is not owned by root"
chown root /etc/zsp/decision.pub
run as_user alice sudo -n id
expect_status "key file: root-owned 0644 key allowed again" 0

closed_port=$(( (RANDOM % 1000) + 40000 ))
zsp_write_config "https://127.0.0.1:$closed_port"
run as_user alice sudo -n id
expect_fail "unreachable: refused connection denied"
expect_output "unreachable: user told broker unreachable" "could not be reached"
expect_faster "unreachable: refused denied quickly" 3000

"$ZSP_BUILD/tcp_blackhole" >"$ZSP_TMP/blackhole.port" &
ZSP_BLACKHOLE_PID=$!
for _ in $(seq 50); do [ -s "$ZSP_TMP/blackhole.port" ] && break; sleep 0.05; done
zsp_write_config "https://127.0.0.1:$(cat "$ZSP_TMP/blackhole.port")"
run as_user alice sudo -n id
expect_fail "unreachable: silent broker denied"
expect_faster "unreachable: denied within the configured timeout" 3500

zsp_write_config "$ZSP_BROKER_URL" "no_such_setting = 1"
run as_user alice sudo -n id
expect_fail "config: invalid file denied"
expect_output "config: error names the line" "zsp.conf:10: no_such_setting"

run as_user alice sudo -V
expect_status "config: sudo -V works with invalid config" 0

chmod 666 /etc/zsp/zsp.conf
run as_user alice sudo -n id
expect_fail "config: world-writable file denied"
expect_output "config: user told it is writable" "writable"
zsp_write_config "$ZSP_BROKER_URL"

run as_user alice sudo -n id
expect_status "recovery: allowed again with good config" 0

# --- shells, time limits, umask ---
zsp_grant_sudo alice bob /bin/bash >/dev/null || fail "shell: grant" "request failed"
zsp_grant_sudo alice bob /usr/bin/bash >/dev/null || fail "shell: grant" "request failed"
run as_user alice env SHELL=/bin/bash sudo -n -s id -un
expect_status "shell: sudo -s runs the command in a shell" 0
expect_output "shell: sudo -s ran as root" "root"
OUT=$(zsp_journal_json -t sudo_zsp ZSP_DECISION=allow)
expect_output "shell: journal shows unescaped command" '"ZSP_COMMAND":"/usr/bin/bash -c \"id -un\""'

# The user's open descriptors stay out of the command; sudoers closes
# them the same way.
run as_user alice bash -c 'exec 77</etc/hostname
  sudo -n bash -c "for f in /proc/self/fd/*; do echo fd:\${f##*/}; done"'
expect_status "fds: command runs" 0
expect_output "fds: standard output reaches the command" "fd:1"
expect_no_output "fds: the user's descriptor 77 is closed" "fd:77"

# Options that would run the command somewhere other than the grant
# covers are rejected, not ignored.
run as_user alice sudo -n -R /tmp id
expect_fail "chroot: sudo -R rejected"
expect_output "chroot: user told -R is unsupported" "sudo -R (chroot) is not supported"
run as_user alice sudo -n -D / pwd
expect_fail "cwd: sudo -D rejected"
expect_output "cwd: user told -D is unsupported" "cd to the directory"
run as_user alice sudo -n -C 8 id
expect_fail "closefrom: sudo -C rejected"
expect_output "closefrom: user told -C is unsupported" "sudo -C is not supported"

run as_user alice sudo -n -i pwd
expect_status "shell: sudo -i allowed under shell grant" 0
expect_output "shell: sudo -i starts in target's home" "/root"

run as_user alice env SHELL=/tmp/not-a-shell sudo -n -s id
expect_fail "shell: unlisted shell denied"
expect_output "shell: user told shell is not listed" "not listed in /etc/shells"

run as_user alice sudo -n -T 1 sleep 5
expect_fail "timeout: -T shorter than grant applies"
expect_faster "timeout: -T 1 ends the command early" 4000

run as_user alice sudo -n bash -c umask
expect_status "umask: command runs" 0
expect_output "umask: at least 022" "0022"

# --- auditing is part of the decision ---
kill "$ZSP_JOURNALD_PID"
wait "$ZSP_JOURNALD_PID" 2>/dev/null
run as_user alice sudo -n id
expect_fail "journal: allow with journald stopped becomes deny"
expect_output "journal: user told the decision was not recorded" "journal"
rm -f /run/systemd/journal/socket
run as_user alice sudo -n id
expect_fail "journal: allow with no journal socket becomes deny"
/lib/systemd/systemd-journald >>"$ZSP_TMP/journald.log" 2>&1 &
ZSP_JOURNALD_PID=$!
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
run as_user alice sudo -n id
expect_status "journal: allowed again once journald is back" 0
OUT=$(grep -c '"ZSP_REASON":"audit failure: journal' /var/lib/zsp/spool/audit.jsonl)
expect_equal "journal: spool records the corrections" "$OUT" 2
# A stopped journald takes no entries once its socket queue is full. Each
# record then times out, and the allow becomes a deny instead of a hang.
zsp_stall_journald
run as_user alice timeout -k 5 40 sudo -n id
kill -CONT "$ZSP_JOURNALD_PID"
expect_status "journal: stopped journald denies, no hang" 1
expect_output "journal: stopped journald reported" "timed out"
expect_faster "journal: stopped journald denies within 15 s" 15000

# --- plugin options ---
cp /etc/sudo.conf "$ZSP_TMP/sudo.conf.real"
echo "Plugin sudo_zsp_policy $ZSP_BUILD/sudo_zsp.so conf=/etc/zsp/zsp.conf confi=/x" >/etc/sudo.conf
run as_user alice sudo -n id
expect_fail "options: unknown plugin option fails"
expect_output "options: message names the option" "confi=/x"
cp "$ZSP_TMP/sudo.conf.real" /etc/sudo.conf

# --- the approved file is what runs; working directory ---
mkdir -p /etc/zsp-test-bin
printf '#!/bin/sh\necho "script ran as $(id -un)"\n' >/etc/zsp-test-bin/hello.sh
chmod 755 /etc/zsp-test-bin/hello.sh
zsp_grant_sudo alice bob /etc/zsp-test-bin/hello.sh >/dev/null
run as_user alice sudo -n /etc/zsp-test-bin/hello.sh
expect_status "execfd: script runs through fexecve" 0
expect_output "execfd: script ran as root" "script ran as root"
OUT=$(zsp_journal_json -t sudo_zsp ZSP_COMMAND=/etc/zsp-test-bin/hello.sh ZSP_DECISION=allow)
expect_output "execfd: journal records the inode that ran" "\"ZSP_EXEC_INODE\":\"$(stat -c %i /etc/zsp-test-bin/hello.sh)\""

zsp_grant_sudo alice bob /usr/bin/pwd >/dev/null
cd /tmp
run as_user alice sudo -n pwd
cd "$ZSP_ROOT"
expect_status "cwd: command allowed" 0
expect_output "cwd: runs in the user's directory" "/tmp"


# --- run-as groups (-g) ---
# Files a sudo request for alice with extra zspctl options and has bob
# approve it.
grant_alice() {
  local id
  id=$(zspctl_as alice request --host "$ZSP_HOST" --sudo --duration 1h \
    --reason "integration test" --quiet "$@") || return 1
  zspctl_as bob approve "$id" >/dev/null
}
adm_gid=$(getent group adm | cut -d: -f3)

run as_user alice sudo -n -u root -g adm id
expect_fail "group: -g without a group grant denied"
expect_output "group: user told which request covers it" "--runas-group adm"
OUT=$(zsp_journal_json -t sudo_zsp ZSP_RUNAS_GROUP=adm ZSP_DECISION=deny)
expect_output "group: journal names the group" '"ZSP_RUNAS_GROUP":"adm"'

grant_alice --runas root --runas-group adm --command /usr/bin/id ||
  fail "group: grant" "request failed"
run as_user alice sudo -n -u root -g adm id
expect_status "group: -g adm allowed under the grant" 0
expect_output "group: command runs with gid adm" "gid=$adm_gid(adm)"
expect_output "group: command runs as root" "uid=0(root)"

run as_user alice sudo -n "-u#0" "-g#$adm_gid" id
expect_status "group: -u#0 -g#gid allowed like the names" 0
expect_output "group: #gid resolves to adm" "gid=$adm_gid(adm)"

run as_user alice sudo -n -u root -g staff id
expect_fail "group: other group denied"

run as_user alice sudo -n -u root -g no-such-group id
expect_fail "group: unknown group denied"
expect_output "group: user told the group is unknown" "unknown run-as group"

run as_user alice sudo -n -u root -g "#4000000" id
expect_fail "group: unknown #gid denied"
expect_output "group: user told the gid is unknown" "unknown run-as group #4000000"

run as_user alice sudo -n -g adm id
expect_fail "group: -g without -u asks to run as the invoking user"
expect_output "group: suggestion names the invoking user" "--runas alice --runas-group adm"

# --- environment: -E and VAR=value ---
run as_user alice sudo -n FOO=bar env
expect_fail "env: VAR=value denied without an env grant"
expect_output "env: suggestion names the variable" "--env FOO"

grant_alice --command /usr/bin/env --env FOO || fail "env: grant FOO" "request failed"
run as_user alice sudo -n FOO=bar env
expect_status "env: VAR=value allowed when the grant names it" 0
expect_output "env: variable reaches the command" "FOO=bar"
OUT=$(zsp_journal_json -t sudo_zsp ZSP_ENV=FOO ZSP_DECISION=allow)
expect_output "env: journal names the variables" '"ZSP_ENV":"FOO"'

run as_user alice sudo -n FOO=bar BAR=baz env
expect_fail "env: name outside the grant denied"
expect_output "env: suggestion lists every name" "--env BAR --env FOO"

run as_user alice env FOO=from-env sudo -n -E env
expect_fail "env: -E denied under a names-only grant"
expect_output "env: suggestion for -E" "--env '*'"

run as_user alice sudo -n LD_PRELOAD=/tmp/evil.so env
expect_fail "env: LD_PRELOAD=value denied"
expect_output "env: user told LD_PRELOAD is never passed" "LD_PRELOAD is never passed"

run as_user alice sudo -n "FOO=() { id; }" env
expect_fail "env: function definition denied"
expect_output "env: user told about the function" "shell function definition"

run as_user alice sudo -n SUDO_USER=root env
expect_fail "env: SUDO_USER=value denied"

grant_alice --command /usr/bin/env --env '*' || fail "env: grant *" "request failed"
run as_user alice env FOO=from-env LD_PRELOAD=/tmp/evil.so \
  LD_LIBRARY_PATH=/tmp "BASH_FUNC_ls%%=() { id; }" BASH_ENV=/tmp/x \
  "MYFUNC=() { id; }" IFS=x PATH=/tmp/evil:/usr/bin SUDO_USER=mallory \
  LANG=../../tmp/evil sudo -n -E env
expect_status "env: -E allowed under a * grant" 0
expect_output "env: -E keeps ordinary variables" "FOO=from-env"
expect_no_output "env: -E drops LD_PRELOAD" "LD_PRELOAD"
expect_no_output "env: -E drops LD_LIBRARY_PATH" "LD_LIBRARY_PATH"
expect_no_output "env: -E drops BASH_FUNC_" "BASH_FUNC"
expect_no_output "env: -E drops BASH_ENV" "BASH_ENV"
expect_no_output "env: -E drops function definitions" "MYFUNC"
expect_no_output "env: -E drops IFS" "IFS="
expect_no_output "env: -E drops LANG with a path" "LANG="
expect_output "env: -E keeps secure_path" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
expect_output "env: -E keeps the real SUDO_USER" "SUDO_USER=alice"
expect_no_output "env: -E drops the user's SUDO_USER" "mallory"

run as_user alice sudo -n LD_PRELOAD=/tmp/evil.so env
expect_fail "env: LD_PRELOAD=value denied under a * grant"

run as_user alice sudo -n OTHER=1 env
expect_status "env: * grant covers any name" 0
expect_output "env: named variable passed" "OTHER=1"

run as_user alice sudo -l
expect_output "list: shows run-as user and group" "(root : adm) /usr/bin/id"
expect_output "list: shows allowed variables" "/usr/bin/env  [environment FOO]"
expect_output "list: shows a whole-environment grant" "[environment *]"

# --- modes that need no broker ---
zsp_write_config "https://127.0.0.1:$closed_port"
run as_user alice sudo -h
expect_status "nobroker: sudo -h succeeds" 0
expect_output "nobroker: sudo -h prints usage" "usage: sudo"
expect_faster "nobroker: sudo -h is fast" 1000
run as_user alice sudo -V
expect_status "nobroker: sudo -V succeeds" 0
expect_output "nobroker: sudo -V names the plugin" "zsp sudo policy plugin version"
version=$(sed -n 's/^VERSION := //p' "$ZSP_ROOT/Makefile")
expect_output "nobroker: sudo -V gives the release version" \
  "zsp sudo policy plugin version $version"
expect_faster "nobroker: sudo -V is fast" 1000
run as_user alice sudo -k
expect_status "nobroker: sudo -k succeeds" 0
expect_faster "nobroker: sudo -k is fast" 1000
run as_user alice sudo -K
expect_status "nobroker: sudo -K succeeds" 0
run as_user alice sudo -n id
expect_fail "nobroker: commands still denied"
zsp_write_config "$ZSP_BROKER_URL"

# --- plain sudo, -b, -k with a command ---
run as_user alice sudo -n -k id
expect_status "kill: sudo -k with a command still asks the broker" 0
expect_output "kill: command ran as root" "uid=0(root)"

run bash -c 'echo "id -un" | setpriv --reuid alice --regid alice --init-groups -- env -i HOME=/home/alice USER=alice LOGNAME=alice PATH=/usr/bin:/bin SHELL=/bin/bash sudo -n'
expect_status "plain: sudo alone runs the shell under a shell grant" 0
expect_output "plain: shell ran as root" "root"
OUT=$(zsp_journal_json -t sudo_zsp ZSP_COMMAND=/usr/bin/bash ZSP_DECISION=allow)
expect_output "plain: journal records the shell" '"ZSP_COMMAND":"/usr/bin/bash"'

run as_user bob sudo -n
expect_fail "plain: sudo alone denied without a grant"
expect_output "plain: user told which request covers it" "--command '/usr/bin/bash"

rm -f /tmp/zsp-background
zsp_grant_sudo alice bob "/usr/bin/touch /tmp/zsp-background" >/dev/null
run as_user alice sudo -n -b touch /tmp/zsp-background
expect_status "background: sudo -b returns at once" 0
for _ in $(seq 50); do [ -e /tmp/zsp-background ] && break; sleep 0.05; done
expect_equal "background: command ran as root" \
  "$(stat -c %U /tmp/zsp-background 2>/dev/null)" root
rm -f /tmp/zsp-background
run as_user alice sudo -n -b touch /tmp/zsp-other
expect_fail "background: command outside the grant denied"

zsp_finish
