#!/bin/bash
# zsp-agent on a host that systemd booted, through the real sudo and the
# real broker. tests/tools/systemd_standin on a private dbus-daemon takes
# the place of systemd. It implements only StartTransientUnit and
# StopUnit, moves processes into the scope cgroups it creates, and on
# StopUnit sends SIGTERM but never SIGKILL. The suite
# runs in its own cgroup namespace, so that the stand-in's zsp.slice is a
# private cgroup and not one at the top of this machine's tree.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"

cgroup_mount=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
if [ -z "$cgroup_mount" ]; then
  echo "FAIL agent_systemd_test: no cgroup2 mount"
  echo "agent_systemd_test: 0 passed, 1 failed"
  exit 1
fi

# Runs the suite in a child cgroup of this machine's tree that is the root
# of a new cgroup namespace, then kills what is left there and removes it.
if [ "${ZSP_IN_CGROUP_NAMESPACE:-}" != 1 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: must run as root (it creates cgroups and namespaces)" >&2
    exit 1
  fi
  base=$cgroup_mount/zsp-systemd-test-$$
  mkdir "$base" || exit 1
  ZSP_IN_CGROUP_NAMESPACE=1 bash -c \
    'echo $$ >"$1/cgroup.procs" && exec unshare -C bash "$2"' \
    _ "$base" "$0" "$@"
  status=$?
  echo 1 >"$base/cgroup.kill" 2>/dev/null
  sleep 0.2
  find "$base" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
  rmdir "$base"
  exit "$status"
fi
zsp_enter_namespace "$@"

work_ended_id=9272436fe12e4807ae5a73ac8ac36337

zsp_private_system || exit 1
# A cgroup2 mount made inside the cgroup namespace has its root there.
umount "$cgroup_mount" && mount -t cgroup2 cgroup2 "$cgroup_mount" || exit 1
# sd_booted() checks for this directory.
mkdir -p /run/systemd/system /run/dbus

AGENT_PID=
BUS_PID=
STANDIN_PID=
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
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
start_standin() {
  local i
  : >"$standin_log"
  "$ZSP_BUILD/systemd_standin" "$cgroup_mount" "$standin_log" \
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

start_agent() {
  local i starts
  rm -f /run/zsp/agent.sock
  touch "$ZSP_TMP/agent.log"
  starts=$(grep -c '^<6>started' "$ZSP_TMP/agent.log")
  "$ZSP_BUILD/zsp-agent" 2>>"$ZSP_TMP/agent.log" &
  AGENT_PID=$!
  for i in $(seq 100); do
    [ "$(grep -c '^<6>started' "$ZSP_TMP/agent.log")" -gt "$starts" ] &&
      [ -S /run/zsp/agent.sock ] && return 0
    sleep 0.05
  done
  echo "agent_systemd_test: zsp-agent did not start:" >&2
  cat "$ZSP_TMP/agent.log" >&2
  return 1
}

stop_agent() {
  kill "$AGENT_PID" 2>/dev/null
  wait "$AGENT_PID" 2>/dev/null
  AGENT_PID=
}

count_procs() {
  pgrep -c -f -- "$1" || true
}

# wait_for_procs PATTERN N: waits up to 5 s until N processes match.
wait_for_procs() {
  local i
  for i in $(seq 250); do
    [ "$(count_procs "$1")" -ge "$2" ] && return 0
    sleep 0.02
  done
  return 1
}

# time_until_gone PATTERN START_NS MAX_MS: waits until no process matches;
# sets ELAPSED_MS to the time since START_NS (date +%s%N).
time_until_gone() {
  local pattern=$1 start=$2 max_ms=$3 now
  while true; do
    now=$(date +%s%N)
    ELAPSED_MS=$(((now - start) / 1000000))
    [ "$(count_procs "$pattern")" -eq 0 ] && return 0
    [ "$ELAPSED_MS" -ge "$max_ms" ] && return 1
    sleep 0.02
  done
}

grant_of() {
  zspctl_as alice --json status "$1" | grep -o '"g-[0-9a-f]*"' | head -1 |
    tr -d '"'
}

# ended_records GRANT: the work-ended journal records of GRANT, as JSON.
# The agent writes the record after it sees the cgroup empty, so a test
# that has just seen the processes gone may be first: wait up to 3 s.
ended_records() {
  local i records
  for i in $(seq 30); do
    records=$(zsp_journal_json MESSAGE_ID=$work_ended_id ZSP_GRANT="$1")
    [ -n "$records" ] && break
    sleep 0.1
  done
  printf '%s\n' "$records"
}

# unit_part GRANT: the grant id as systemd-escape writes it in unit names.
unit_part() {
  printf '%s' "${1//-/\\x2d}"
}

# --- start ---
start_agent || exit 1
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "start: agent detects systemd" "systemd=yes"
expect_output "start: agent names zsp.slice" "cgroup=/zsp.slice"

# --- placement in a transient scope ---
cat_request=$(zsp_grant_sudo alice bob /usr/bin/cat 1h)
cat_grant=$(grant_of "$cat_request")
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
bash_grant=$(grant_of "$bash_request")
bash_part=$(unit_part "$bash_grant")
as_user alice sudo -n /usr/bin/bash -c \
  'trap "" TERM
   setsid sleep 8101 </dev/null >/dev/null 2>&1 &
   nohup sleep 8102 </dev/null >/dev/null 2>&1 &
   sleep 8103' </dev/null >/dev/null 2>&1 &
wait_for_procs '^sleep 810[1-3]' 3
run count_procs '^sleep 810[1-3]'
expect_equal "revoke: command and children running" "$OUT" 3
start=$(date +%s%N)
zspctl_as alice revoke "$bash_grant" >/dev/null
if time_until_gone '^sleep 810[1-3]' "$start" 5000; then
  pass "revoke: all processes ended"
else
  fail "revoke: all processes ended" "still running after 5 s"
fi
expect_faster "revoke: ended within 2 s" 2000
OUT=$(grep -F "StopUnit unit=zsp-$bash_part.slice " "$standin_log")
expect_output "revoke: StopUnit called for the grant's slice" \
  "mode=replace pids="
if printf '%s' "$OUT" | grep -q 'pids=[0-9]'; then
  pass "revoke: processes were there at StopUnit"
else
  fail "revoke: processes were there at StopUnit" "no pids"
fi
OUT=$(ended_records "$bash_grant")
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
  [ -d "$cgroup_mount/zsp.slice/zsp-$bash_part.slice" ] || break
  sleep 0.02
done
if [ -d "$cgroup_mount/zsp.slice/zsp-$bash_part.slice" ]; then
  OUT=present
else
  OUT=removed
fi
expect_equal "revoke: stand-in removed the slice" "$OUT" removed

# --- restart: the grant slices of live grants are adopted ---
stop_agent
start_agent || exit 1
OUT=$(cat "$ZSP_TMP/agent.log")
expect_output "restart: live grant's slice adopted" "adopted grant=$cat_grant"

# --- freeze method under systemd ---
stop_agent
zsp_write_config "$ZSP_BROKER_URL" "kill_method = freeze"
start_agent || exit 1
dash_request=$(zsp_grant_sudo alice bob /usr/bin/dash 1h)
dash_grant=$(grant_of "$dash_request")
as_user alice sudo -n /usr/bin/dash -c \
  'trap "" TERM; setsid sleep 8201 </dev/null >/dev/null 2>&1 & sleep 8202' \
  </dev/null >/dev/null 2>&1 &
wait_for_procs '^sleep 820[12]' 2
start=$(date +%s%N)
zspctl_as alice revoke "$dash_grant" >/dev/null
if time_until_gone '^sleep 820[12]' "$start" 5000; then
  pass "freeze revoke: all processes ended"
else
  fail "freeze revoke: all processes ended" "still running after 5 s"
fi
expect_faster "freeze revoke: ended within 2 s" 2000
OUT=$(ended_records "$dash_grant")
expect_output "freeze revoke: journal names the method" \
  '"ZSP_KILL_METHOD":"freeze"'

# --- the manager is gone ---
sleep_request=$(zsp_grant_sudo alice bob /usr/bin/sleep 1h)
sleep_grant=$(grant_of "$sleep_request")
as_user alice sudo -n /usr/bin/sleep 8301 </dev/null >/dev/null 2>&1 &
wait_for_procs '^(/usr/bin/)?sleep 8301' 1
kill "$STANDIN_PID"
wait "$STANDIN_PID" 2>/dev/null
STANDIN_PID=
run as_user alice sudo -n /usr/bin/sleep 1
expect_fail "no manager: new sudo denied"
expect_output "no manager: user told why" "could not be placed under its grant"
start=$(date +%s%N)
zspctl_as alice revoke "$sleep_grant" >/dev/null
if time_until_gone '^(/usr/bin/)?sleep 8301' "$start" 5000; then
  pass "no manager: revocation still ends the work"
else
  fail "no manager: revocation still ends the work" "still running after 5 s"
fi
OUT=$(ended_records "$sleep_grant")
expect_output "no manager: journal names the cause" '"ZSP_CAUSE":"revoked"'
OUT=$(grep "failed action=stop-unit grant=$sleep_grant" "$ZSP_TMP/agent.log")
expect_output "no manager: StopUnit failure logged" "error="

zsp_finish
