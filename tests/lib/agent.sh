# Shared set-up for the suites that run zsp-agent. Source it from bash
# after harness.sh.
#
# The cgroup v2 tree is the machine's own, not private to a test's mount
# namespace, so each suite gives the agent a subtree of its own
# (agent_cgroup in zsp.conf) and removes it at the end. Every agent that
# a suite starts appends its log to $ZSP_TMP/agent.log.

# MESSAGE_ID of the agent's journal record for work that it ended.
ZSP_WORK_ENDED_ID=9272436fe12e4807ae5a73ac8ac36337

ZSP_AGENT_PID=

# Prints the mount point of the cgroup v2 tree, or returns 1 when there
# is none.
zsp_cgroup_mount() {
  local mount
  mount=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
  [ -n "$mount" ] || return 1
  printf '%s\n' "$mount"
}

# zsp_agent_cgroup_setup PREFIX: sets ZSP_CGROUP_MOUNT to the cgroup v2
# mount point, ZSP_AGENT_SUBTREE to PREFIX-PID, a name unique to this run
# for the agent_cgroup setting, and ZSP_AGENT_CGROUP_DIR to the subtree's
# directory, which the agent creates. With no cgroup v2 mount, it prints a
# failed check and the suite's summary line and exits with status 1.
zsp_agent_cgroup_setup() {
  local suite=${ZSP_SUITE:-$(basename "$0" .sh)}
  ZSP_CGROUP_MOUNT=$(zsp_cgroup_mount) || {
    echo "FAIL $suite: no cgroup2 mount"
    echo "$suite: 0 passed, 1 failed"
    exit 1
  }
  ZSP_AGENT_SUBTREE=$1-$$
  ZSP_AGENT_CGROUP_DIR=$ZSP_CGROUP_MOUNT/$ZSP_AGENT_SUBTREE
}

# Kills whatever is left in ZSP_AGENT_CGROUP_DIR and the cgroups below it,
# waits up to 5 s for them to empty, then removes them all. Prints a
# warning on stderr when the subtree is still there. Does nothing when the
# directory is missing.
zsp_agent_cgroup_remove() {
  local subtree=${ZSP_AGENT_CGROUP_DIR:-} i
  [ -n "$subtree" ] && [ -d "$subtree" ] || return 0
  echo 1 >"$subtree/cgroup.kill" 2>/dev/null
  for i in $(seq 100); do
    grep -qx 'populated 0' "$subtree/cgroup.events" 2>/dev/null && break
    sleep 0.05
  done
  find "$subtree" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
  rmdir "$subtree" 2>/dev/null
  if [ -d "$subtree" ]; then
    echo "harness: could not remove the cgroup subtree $subtree" >&2
  fi
}

# Starts $ZSP_BUILD/zsp-agent with /etc/zsp/zsp.conf and sets ZSP_AGENT_PID.
# Waits up to 5 s for a new "<6>started" line in $ZSP_TMP/agent.log, which
# the agent logs after it has adopted or ended the cgroups of an earlier
# run, and for /run/zsp/agent.sock. Each start appends a "--- start" line
# to the log first. Returns 1, with the log on stderr, when the agent did
# not start in time.
zsp_start_agent() {
  local i starts
  rm -f /run/zsp/agent.sock
  touch "$ZSP_TMP/agent.log"
  starts=$(grep -c '^<6>started' "$ZSP_TMP/agent.log")
  echo "--- start" >>"$ZSP_TMP/agent.log"
  "$ZSP_BUILD/zsp-agent" 2>>"$ZSP_TMP/agent.log" &
  ZSP_AGENT_PID=$!
  for i in $(seq 100); do
    [ "$(grep -c '^<6>started' "$ZSP_TMP/agent.log")" -gt "$starts" ] &&
      [ -S /run/zsp/agent.sock ] && return 0
    sleep 0.05
  done
  echo "harness: zsp-agent did not start:" >&2
  cat "$ZSP_TMP/agent.log" >&2
  return 1
}

# Stops the agent that zsp_start_agent started, waits for it to exit and
# clears ZSP_AGENT_PID. Does nothing when no agent runs.
zsp_stop_agent() {
  [ -n "$ZSP_AGENT_PID" ] || return 0
  kill "$ZSP_AGENT_PID" 2>/dev/null
  wait "$ZSP_AGENT_PID" 2>/dev/null
  ZSP_AGENT_PID=
}

# Stops the agent and removes its cgroup subtree. A suite calls it from
# its EXIT trap before zsp_cleanup.
zsp_agent_cleanup() {
  zsp_stop_agent
  zsp_agent_cgroup_remove
}

# zsp_count_procs PATTERN: prints how many processes have a command line
# that matches the extended regular expression PATTERN.
zsp_count_procs() {
  pgrep -c -f -- "$1" || true
}

# zsp_wait_for_procs PATTERN N: waits up to 5 s until at least N processes
# match PATTERN, and returns 1 when they do not.
zsp_wait_for_procs() {
  local i
  for i in $(seq 250); do
    [ "$(zsp_count_procs "$1")" -ge "$2" ] && return 0
    sleep 0.02
  done
  return 1
}

# zsp_time_until_gone PATTERN START_NS MAX_MS: waits until no process
# matches PATTERN and sets ELAPSED_MS to the time since START_NS (date
# +%s%N). Returns 1 when processes still match MAX_MS after START_NS.
zsp_time_until_gone() {
  local pattern=$1 start=$2 max_ms=$3 now
  while true; do
    now=$(date +%s%N)
    ELAPSED_MS=$(((now - start) / 1000000))
    [ "$(zsp_count_procs "$pattern")" -eq 0 ] && return 0
    [ "$ELAPSED_MS" -ge "$max_ms" ] && return 1
    sleep 0.02
  done
}

# zsp_expect_revoke_ends NAME WHO GRANT PATTERN: revokes GRANT as person
# WHO and checks, with the assertions of assert.sh, that every process
# matching PATTERN ends within 5 s ("NAME: all processes ended") and
# within 2 s ("NAME: ended within 2 s").
zsp_expect_revoke_ends() {
  local name=$1 who=$2 grant=$3 pattern=$4 start
  start=$(date +%s%N)
  zspctl_as "$who" revoke "$grant" >/dev/null
  if zsp_time_until_gone "$pattern" "$start" 5000; then
    pass "$name: all processes ended"
  else
    fail "$name: all processes ended" "still running after 5 s"
  fi
  expect_faster "$name: ended within 2 s" 2000
}

# zsp_work_ended_records GRANT: prints the agent's work-ended journal
# records of GRANT as JSON lines. The agent writes the record after it
# finds the cgroup empty, so a test that has just found the processes
# gone may be first. It therefore waits up to 3 s for a record.
zsp_work_ended_records() {
  local i records
  for i in $(seq 30); do
    records=$(zsp_journal_json MESSAGE_ID=$ZSP_WORK_ENDED_ID ZSP_GRANT="$1")
    [ -n "$records" ] && break
    sleep 0.1
  done
  printf '%s\n' "$records"
}
