#!/bin/bash
# zsp-agent on a host that systemd booted, through the real sudo and the
# real broker. tests/tools/systemd_standin on a private dbus-daemon takes
# the place of systemd. It implements only StartTransientUnit and
# StopUnit, moves processes into the scope cgroups it creates, and on
# StopUnit sends SIGTERM but never SIGKILL. It also takes the place of
# logind, from which the real sshd's pam_systemd.so requests sessions. The suite
# runs in its own cgroup namespace, so that the stand-in's zsp.slice is a
# private cgroup and not one at the top of this machine's tree.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/agent.sh"

zsp_agent_cgroup_setup zsp-systemd-test

# Runs the suite in ZSP_AGENT_CGROUP_DIR, a child cgroup of this machine's
# tree that is the root of a new cgroup namespace, then kills what is left
# there and removes it.
if [ "${ZSP_IN_CGROUP_NAMESPACE:-}" != 1 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: must run as root (it creates cgroups and namespaces)" >&2
    exit 1
  fi
  mkdir "$ZSP_AGENT_CGROUP_DIR" || exit 1
  ZSP_IN_CGROUP_NAMESPACE=1 bash -c \
    'echo $$ >"$1/cgroup.procs" && exec unshare -C bash "$2"' \
    _ "$ZSP_AGENT_CGROUP_DIR" "$0" "$@"
  status=$?
  zsp_agent_cgroup_remove
  exit "$status"
fi
zsp_enter_namespace "$@"

zsp_private_system || exit 1
# A cgroup2 mount made inside the cgroup namespace has its root there.
umount "$ZSP_CGROUP_MOUNT" &&
  mount -t cgroup2 cgroup2 "$ZSP_CGROUP_MOUNT" || exit 1
# sd_booted() checks for this directory.
mkdir -p /run/systemd/system /run/dbus

BUS_PID=
STANDIN_PID=
# The cgroup namespace's root, which the outer run removes, contains
# every cgroup that this run makes, so stopping the agent is enough here.
cleanup() {
  zsp_stop_agent
  [ -n "$STANDIN_PID" ] && kill "$STANDIN_PID" 2>/dev/null
  [ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null
  zsp_cleanup
}
trap cleanup EXIT

# A system bus that lets root own and call anything.
cat >"$ZSP_TMP/system-bus.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$ZSP_TMP/system-bus.conf" --nofork --nopidfile \
  2>"$ZSP_TMP/dbus.log" &
BUS_PID=$!

standin_log=$ZSP_TMP/standin.log
# Starts the stand-in and waits until it owns its bus name.
# Arguments go to the stand-in before its own (--no-logind).
start_standin() {
  local i
  : >"$standin_log"
  "$ZSP_BUILD/systemd_standin" "$@" "$ZSP_CGROUP_MOUNT" "$standin_log" \
    2>>"$ZSP_TMP/standin.err" &
  STANDIN_PID=$!
  for i in $(seq 100); do
    grep -q '^ready' "$standin_log" && return 0
    sleep 0.05
  done
  echo "agent_systemd_test: the stand-in did not start:" >&2
  cat "$ZSP_TMP/dbus.log" "$ZSP_TMP/standin.err" >&2
  return 1
}
for _ in $(seq 100); do
  [ -S /run/dbus/system_bus_socket ] && break
  sleep 0.05
done
start_standin || exit 1

zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
export ZSP_AGENT_MODE=required
zsp_install_host

# unit_part GRANT: the grant id as systemd-escape writes it in unit names.
unit_part() {
  printf '%s' "${1//-/\\x2d}"
}

# --- start ---
zsp_start_agent || exit 1
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "start: agent detects systemd" "systemd=yes"
expect_output "start: agent names zsp.slice" "cgroup=/zsp.slice"

# --- placement in a transient scope ---
cat_request=$(zsp_grant_sudo alice bob /usr/bin/cat 1h)
cat_grant=$(zsp_grant_of alice "$cat_request")
cat_part=$(unit_part "$cat_grant")
run as_user alice sudo -n /usr/bin/cat /proc/self/cgroup
expect_status "scope: sudo allowed" 0
expect_output "scope: command runs in the grant's scope" \
  "0::/zsp.slice/zsp-$cat_part.slice/zsp-$cat_part-"
OUT=$(cat "$standin_log")
expect_output "scope: StartTransientUnit called for the scope" \
  "StartTransientUnit unit=zsp-$cat_part-"
expect_output "scope: scope is in the grant's slice" \
  "mode=fail slice=zsp-$cat_part.slice pids="

# --- revocation: StopUnit, then the follow-up SIGKILL ---
# The command and its children ignore SIGTERM, the only signal the
# stand-in sends, so only the agent's follow-up kill can end them.
bash_request=$(zsp_grant_sudo alice bob /usr/bin/bash 1h)
bash_grant=$(zsp_grant_of alice "$bash_request")
bash_part=$(unit_part "$bash_grant")
as_user alice sudo -n /usr/bin/bash -c \
  'trap "" TERM
   setsid sleep 8101 </dev/null >/dev/null 2>&1 &
   nohup sleep 8102 </dev/null >/dev/null 2>&1 &
   sleep 8103' </dev/null >/dev/null 2>&1 &
zsp_wait_for_procs '^sleep 810[1-3]' 3
run zsp_count_procs '^sleep 810[1-3]'
expect_equal "revoke: command and children running" "$OUT" 3
zsp_expect_revoke_ends "revoke" alice "$bash_grant" '^sleep 810[1-3]'
OUT=$(grep -F "StopUnit unit=zsp-$bash_part.slice " "$standin_log")
expect_output "revoke: StopUnit called for the grant's slice" \
  "mode=replace pids="
if printf '%s' "$OUT" | grep -q 'pids=[0-9]'; then
  pass "revoke: processes were there at StopUnit"
else
  fail "revoke: processes were there at StopUnit" "no pids"
fi
OUT=$(zsp_work_ended_records "$bash_grant")
expect_output "revoke: journal names the cause" '"ZSP_CAUSE":"revoked"'
expect_output "revoke: journal names the method" \
  '"ZSP_KILL_METHOD":"cgroup.kill"'
# The record escapes the backslash of \x2d, and JSON escapes both.
OUT=$(printf '%s' "$OUT" | grep -o '"ZSP_UNIT":"[^"]*"')
expect_output "revoke: journal names the unit" \
  "\"ZSP_UNIT\":\"zsp-g"
expect_output "revoke: journal names the unit's grant" \
  "x2d${bash_grant#g-}.slice\""
for _ in $(seq 100); do
  [ -d "$ZSP_CGROUP_MOUNT/zsp.slice/zsp-$bash_part.slice" ] || break
  sleep 0.02
done
if [ -d "$ZSP_CGROUP_MOUNT/zsp.slice/zsp-$bash_part.slice" ]; then
  OUT=present
else
  OUT=removed
fi
expect_equal "revoke: stand-in removed the slice" "$OUT" removed

# --- restart: the grant slices of live grants are adopted ---
zsp_stop_agent
zsp_start_agent || exit 1
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "restart: live grant's slice adopted" "adopted grant=$cat_grant"

# --- login sessions through logind ---
# sshd with pam_systemd.so from this machine: it requests a session from
# the stand-in's logind, and the stand-in moves the session leader into
# user.slice/user-UID.slice/session-N.scope as logind and systemd do.
# pam_systemd does nothing unless /run/systemd/seats exists.
mkdir -p /run/systemd/seats
zsp_start_sshd alice || exit 1

# sshd_stack ORDER: writes sshd's PAM service with pam_systemd before
# pam_zsp in the session stack (systemd-first) or after it (zsp-first).
sshd_stack() {
  local zsp="session  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf"
  local systemd="session  optional pam_systemd.so"
  {
    echo "auth     required pam_deny.so"
    echo "account  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf"
    echo "account  required pam_unix.so"
    if [ "$1" = systemd-first ]; then
      echo "$systemd"
      echo "$zsp"
    else
      echo "$zsp"
      echo "$systemd"
    fi
    echo "session  required pam_unix.so"
  } >/etc/pam.d/sshd
}

# start_login N: starts an ssh session for alice whose shell ignores
# SIGTERM and starts setsid and nohup children (sleep N1, N2; the shell
# waits in sleep N3). Sets LOGIN_GRANT, LOGIN_PID (the process pam_zsp
# placed) and LOGIN_SESSION (the stand-in's session led by it, or "").
start_login() {
  local n=$1 i
  LOGIN_GRANT=$(zsp_grant_of alice "$(zsp_grant_login alice bob)")
  zsp_ssh_as alice "trap '' TERM
    setsid sleep ${n}1 </dev/null >/dev/null 2>&1 &
    nohup sleep ${n}2 </dev/null >/dev/null 2>&1 &
    sleep ${n}3" </dev/null >/dev/null 2>&1 &
  zsp_wait_for_procs "^sleep ${n}[1-3]" 3
  LOGIN_PID=$(grep -o "placed grant=$LOGIN_GRANT .* pid=[0-9]*" \
    "$ZSP_TMP/agent.log" | tail -1 | sed 's/.*pid=//')
  LOGIN_SESSION=
  for i in $(seq 50); do
    LOGIN_SESSION=$(grep "^SessionNew .* leader=$LOGIN_PID " \
      "$standin_log" | sed 's/^SessionNew id=\([0-9]*\) .*/\1/')
    [ -n "$LOGIN_SESSION" ] && break
    sleep 0.02
  done
}

# revoke_login N NAME: revokes LOGIN_GRANT and checks that sleep N1 to N3
# end within 2 s. NAME prefixes the test names.
revoke_login() {
  local n=$1 name=$2
  zsp_expect_revoke_ends "$name" alice "$LOGIN_GRANT" "^sleep ${n}[1-3]"
}

# session_cgroup N: the cgroup of the shell's sleep N3.
session_cgroup() {
  sed -n 's/^0:://p' "/proc/$(pgrep -f "^sleep ${1}3")/cgroup"
}

# pam_systemd after pam_zsp: the leader and all the shell's children end
# up in the session's scope, out of the grant's slice. Only logind can
# end them, and they ignore the SIGTERM of TerminateSession.
sshd_stack zsp-first
start_login 84
run zsp_count_procs '^sleep 84[1-3]'
expect_equal "zsp-first: session and children running" "$OUT" 3
if [ -n "$LOGIN_SESSION" ]; then
  pass "zsp-first: pam_systemd opened a session"
else
  fail "zsp-first: pam_systemd opened a session" \
    "no SessionNew for leader $LOGIN_PID in the stand-in's log"
fi
run session_cgroup 84
expect_output "zsp-first: shell runs in the session's scope" \
  "/user.slice/user-$(id -u alice).slice/session-$LOGIN_SESSION.scope"
# Tick finds the session that pam_systemd opened after the placement and
# saves it in the state file, so a restarted agent still ends it.
for _ in $(seq 50); do
  grep -q "session grant=$LOGIN_GRANT .*logind_session=" \
    "$ZSP_TMP/agent.log" && break
  sleep 0.05
done
OUT=$(grep "session grant=$LOGIN_GRANT " "$ZSP_TMP/agent.log")
expect_output "zsp-first: agent found the session after placement" \
  "logind_session=$LOGIN_SESSION"
# A sudo command started from inside the login session is its own grant's
# work: revoking that grant must leave the login and its session alone.
sudo_grant=$(zsp_grant_of alice "$(zsp_grant_sudo alice bob /usr/bin/sleep 1h)")
(
  echo "$BASHPID" >"$ZSP_CGROUP_MOUNT$(session_cgroup 84)/cgroup.procs"
  as_user alice sudo -n /usr/bin/sleep 8801 </dev/null >/dev/null 2>&1
) &
zsp_wait_for_procs '^(/usr/bin/)?sleep 8801' 1
zspctl_as alice revoke "$sudo_grant" >/dev/null
if zsp_time_until_gone '^(/usr/bin/)?sleep 8801' "$(date +%s%N)" 5000; then
  pass "zsp-first: sudo in the session revoked"
else
  fail "zsp-first: sudo in the session revoked" "still running after 5 s"
fi
zsp_work_ended_records "$sudo_grant" >/dev/null
run zsp_count_procs '^sleep 84[1-3]'
expect_equal "zsp-first: login outlives the sudo grant" "$OUT" 3
run grep -c '^TerminateSession' "$standin_log"
expect_equal "zsp-first: sudo end leaves the session" "$OUT" 0

zsp_stop_agent
zsp_start_agent || exit 1
revoke_login 84 "zsp-first revoke"
# The stand-in logs the processes it signalled; both lists must be
# non-empty.
OUT=$(grep -E "^TerminateSession id=$LOGIN_SESSION pids=[0-9]" "$standin_log")
expect_output "zsp-first: TerminateSession for the session" \
  "TerminateSession id=$LOGIN_SESSION pids="
OUT=$(grep -E "^KillSession id=$LOGIN_SESSION who=all signal=9 pids=[0-9]" \
  "$standin_log")
expect_output "zsp-first: follow-up SIGKILL for the session" \
  "KillSession id=$LOGIN_SESSION who=all signal=9 pids="
OUT=$(zsp_work_ended_records "$LOGIN_GRANT")
expect_output "zsp-first: journal names the logind session" \
  "\"ZSP_LOGIND_SESSION\":\"$LOGIN_SESSION\""
expect_output "zsp-first: journal says the session was killed" \
  "\"ZSP_LOGIND_END\":\"$LOGIN_SESSION=killed\""
expect_output "zsp-first: journal names the cause" '"ZSP_CAUSE":"revoked"'
expect_output "zsp-first: journal names the session's processes" \
  '"ZSP_SESSION_PROCESSES":"'

# pam_systemd before pam_zsp: pam_zsp moves the leader from the session's
# scope into the grant's slice, so the cgroup kill ends the work, and the
# agent calls TerminateSession as well.
sshd_stack systemd-first
start_login 85
run zsp_count_procs '^sleep 85[1-3]'
expect_equal "systemd-first: session and children running" "$OUT" 3
run session_cgroup 85
expect_output "systemd-first: shell runs in the grant's slice" \
  "/zsp.slice/zsp-$(unit_part "$LOGIN_GRANT").slice/"
OUT=$(grep "session grant=$LOGIN_GRANT " "$ZSP_TMP/agent.log")
expect_output "systemd-first: agent found the session at placement" \
  "logind_session=$LOGIN_SESSION"
revoke_login 85 "systemd-first revoke"
OUT=$(grep "^TerminateSession " "$standin_log")
expect_output "systemd-first: TerminateSession for the session" \
  "TerminateSession id=$LOGIN_SESSION "
OUT=$(zsp_work_ended_records "$LOGIN_GRANT")
expect_output "systemd-first: journal names the logind session" \
  "\"ZSP_LOGIND_SESSION\":\"$LOGIN_SESSION\""

# logind gone by the end: the agent kills the session's scope itself.
sshd_stack zsp-first
start_login 87
run zsp_count_procs '^sleep 87[1-3]'
expect_equal "logind lost: session and children running" "$OUT" 3
lost_session=$LOGIN_SESSION
# Give Tick time to find the session that pam_systemd opened.
for _ in $(seq 50); do
  grep -q "session grant=$LOGIN_GRANT .*logind_session=" \
    "$ZSP_TMP/agent.log" && break
  sleep 0.05
done
kill "$STANDIN_PID"
wait "$STANDIN_PID" 2>/dev/null
start_standin --no-logind || exit 1
revoke_login 87 "logind lost revoke"
OUT=$(grep "failed action=terminate-session grant=$LOGIN_GRANT " \
  "$ZSP_TMP/agent.log")
expect_output "logind lost: TerminateSession failure logged" \
  "logind (org.freedesktop.login1) is not available on the system bus"
OUT=$(zsp_work_ended_records "$LOGIN_GRANT")
expect_output "logind lost: journal says the agent killed the scope" \
  "\"ZSP_LOGIND_END\":\"$lost_session=killed-by-agent\""

# No logind on the bus: the cgroup kill alone ends the session, and the
# agent logs why it could not call logind.
start_login 86
run zsp_count_procs '^sleep 86[1-3]'
expect_equal "no logind: session and children running" "$OUT" 3
revoke_login 86 "no logind revoke"
OUT=$(grep "failed action=find-session grant=$LOGIN_GRANT " \
  "$ZSP_TMP/agent.log")
expect_output "no logind: unavailable logind logged" \
  "logind (org.freedesktop.login1) is not available on the system bus"
OUT=$(zsp_work_ended_records "$LOGIN_GRANT")
expect_output "no logind: journal names the logind failure" \
  '"ZSP_LOGIND_ERROR":"'
kill "$STANDIN_PID"
wait "$STANDIN_PID" 2>/dev/null
start_standin || exit 1

# --- freeze method under systemd ---
zsp_stop_agent
zsp_write_config "$ZSP_BROKER_URL" "kill_method = freeze"
zsp_start_agent || exit 1
dash_request=$(zsp_grant_sudo alice bob /usr/bin/dash 1h)
dash_grant=$(zsp_grant_of alice "$dash_request")
as_user alice sudo -n /usr/bin/dash -c \
  'trap "" TERM; setsid sleep 8201 </dev/null >/dev/null 2>&1 & sleep 8202' \
  </dev/null >/dev/null 2>&1 &
zsp_wait_for_procs '^sleep 820[12]' 2
zsp_expect_revoke_ends "freeze revoke" alice "$dash_grant" '^sleep 820[12]'
OUT=$(zsp_work_ended_records "$dash_grant")
expect_output "freeze revoke: journal names the method" \
  '"ZSP_KILL_METHOD":"freeze"'

# --- the manager is gone ---
sleep_request=$(zsp_grant_sudo alice bob /usr/bin/sleep 1h)
sleep_grant=$(zsp_grant_of alice "$sleep_request")
as_user alice sudo -n /usr/bin/sleep 8301 </dev/null >/dev/null 2>&1 &
zsp_wait_for_procs '^(/usr/bin/)?sleep 8301' 1
kill "$STANDIN_PID"
wait "$STANDIN_PID" 2>/dev/null
STANDIN_PID=
run as_user alice sudo -n /usr/bin/sleep 1
expect_fail "no manager: new sudo denied"
expect_output "no manager: user told why" "could not be placed under its grant"
start=$(date +%s%N)
zspctl_as alice revoke "$sleep_grant" >/dev/null
if zsp_time_until_gone '^(/usr/bin/)?sleep 8301' "$start" 5000; then
  pass "no manager: revocation still ends the work"
else
  fail "no manager: revocation still ends the work" "still running after 5 s"
fi
OUT=$(zsp_work_ended_records "$sleep_grant")
expect_output "no manager: journal names the cause" '"ZSP_CAUSE":"revoked"'
OUT=$(grep "failed action=stop-unit grant=$sleep_grant" "$ZSP_TMP/agent.log")
expect_output "no manager: StopUnit failure logged" "error="

zsp_finish
