#!/bin/bash
# zsp-agent places the process that connected to its socket, not whatever
# process has that pid by the time it writes cgroup.procs. A client that
# exits right after it requests placement, and whose pid the kernel then
# gives to another process (here forced through ns_last_pid in a private
# pid namespace), gets a rejection, and that other process stays in its
# own cgroup. A client that exits with no process taking its pid gets the
# same rejection. A client that stays is placed, which shows that the test
# client's request is valid.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
. "$(dirname "$0")/../lib/agent.sh"
zsp_enter_namespace "$@"

zsp_agent_cgroup_setup zsp-reuse-test

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
export ZSP_AGENT_MODE=required
zsp_install_host
zsp_write_config "$ZSP_BROKER_URL" "agent_cgroup = $ZSP_AGENT_SUBTREE"

cleanup() {
  zsp_agent_cgroup_remove
  zsp_cleanup
}
trap cleanup EXIT

# in_pid_namespace MODE: starts zsp-agent and place_client.py MODE in a
# new pid namespace, so that the client can pick the pids there; prints
# the client's output. Everything in the namespace ends with it.
in_pid_namespace() {
  unshare --pid --fork --mount-proc bash -c '
    . "$1/tests/lib/harness.sh"
    . "$1/tests/lib/agent.sh"
    ZSP_BUILD=$2 ZSP_TMP=$3
    zsp_start_agent || exit 1
    python3 "$1/tests/tools/place_client.py" /run/zsp/agent.sock "$4" \
      alice /usr/bin/id "$5"
  ' bash "$ZSP_ROOT" "$ZSP_BUILD" "$ZSP_TMP" "$ZSP_BROKER_URL" "$1"
}

# field NAME: the value of NAME in the client output in OUT.
field() {
  printf '%s\n' "$OUT" | awk -v name="$1" '$1 == name { print $2 }'
}

zsp_grant_sudo alice bob /usr/bin/id >/dev/null || exit 1

run in_pid_namespace stay
expect_output "stay: client placed" '"ok":true'
expect_equal "stay: client in the grant's cgroup" \
  "$(field cgroup_after | cut -d/ -f2)" "$ZSP_AGENT_SUBTREE"

run in_pid_namespace reuse
expect_output "reuse: placement rejected" '"ok":false'
expect_output "reuse: rejection names the exit" "exited first"
expect_equal "reuse: other process kept its cgroup" \
  "$(field cgroup_after)" "$(field cgroup_before)"
OUT=$(field cgroup_after)
expect_no_output "reuse: other process not in the subtree" "$ZSP_AGENT_SUBTREE"
OUT=$(grep 'caller exited before it was placed' "$ZSP_TMP/agent.log")
expect_output "reuse: agent logged the rejection" "pin=pidfd"
expect_output "reuse: agent logged the move back" "moved_back=/"

# The client exits and its pid stays free: a rejection at warning level,
# not a failure of the agent.
run in_pid_namespace exit
expect_output "exit: placement rejected" '"ok":false'
expect_output "exit: rejection names the exit" "exited first"
OUT=$(grep 'caller exited before it was placed' "$ZSP_TMP/agent.log" |
  tail -1)
expect_output "exit: agent logged a warning" "<4>rejected pid="
expect_no_output "exit: nothing moved back" "moved_back"
OUT=$(cat "$ZSP_TMP/agent.log")
expect_no_output "exit: no place failure logged" "failed action=place"

zsp_finish
