#!/bin/bash
# The harness's own isolation: a process that a test leaves running must
# not outlive the private /etc and /var overlays. The inner script below
# runs in a namespace of its own, inside this one, and starts a process
# that writes to /var after the inner script has ended. Its cleanup must
# kill that process, or the write lands in the /var underneath, which here
# is this test's overlay and on a real run would be the machine's own.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
probe=/var/tmp/zsp-harness-probe
rm -f "$probe"
cat >"$ZSP_TMP/inner.sh" <<INNER
. "$ZSP_ROOT/tests/lib/harness.sh"
zsp_enter_namespace
zsp_private_system || exit 1
# Not a child of the script, so the cleanup's wait does not wait for it.
( (sleep 1; echo leaked >"$probe") & )
INNER
run env -u ZSP_IN_NAMESPACE bash "$ZSP_TMP/inner.sh"
expect_status "inner test: ends" 0
sleep 1.5
expect_equal "cleanup: no process outlives the overlays" \
  "$(cat "$probe" 2>/dev/null)" ""

# The kill loop acts only in a namespace that zsp_enter_namespace made.
# kill is replaced by a function that prints what it would signal.
probe_kill() {
  ZSP_IN_NAMESPACE=1 ZSP_OUTER_MOUNT_NS=$1 bash -c "
    . '$ZSP_ROOT/tests/lib/harness.sh'
    kill() { echo \"would kill \$*\"; return 1; }
    zsp_kill_namespace_processes"
}
OUT=$(probe_kill "$(readlink /proc/self/ns/mnt)")
expect_no_output "kill loop: never in the namespace a test started in" \
  "would kill"
OUT=$(probe_kill "mnt:[0]")
expect_output "kill loop: control finds this namespace's processes" \
  "would kill -s TERM"

zsp_finish
