#!/bin/bash
# Profiles `sudo -n true` through sudo_zsp with an active grant, inside the
# harness's private namespaces. perf started on the command recorded
# almost no samples of the setuid sudo here, so it samples the whole
# system (-a) and the report keeps only processes named sudo. Other load on the machine shows up in
# the raw data but not in that report.
#
# Usage: tests/bench/profile.sh [RUNS]. Needs perf and strace. Writes
# perf.data and sudo.strace to ZSP_PROFILE_DIR (default build/bench/profile).
. "$(dirname "$0")/../lib/harness.sh"
zsp_enter_namespace "$@"
set -u

RUNS=${1:-60}
DIR=${ZSP_PROFILE_DIR:-"$ZSP_BUILD/bench/profile"}
mkdir -p "$DIR"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host
zsp_grant_sudo alice bob /usr/bin/true 8h >/dev/null || exit 1
as_user alice sudo -n /usr/bin/true || {
  echo "profile: sudo -n true through sudo_zsp failed" >&2
  exit 1
}

perf record -q -a -F 2000 -g -o "$DIR/perf.data" -- \
  setpriv --reuid alice --regid alice --init-groups -- \
  "$ZSP_BUILD/bench/bench_exec" "$RUNS" /usr/bin/sudo -n /usr/bin/true
echo "== hottest symbols in processes named sudo (share of their samples)"
perf report -i "$DIR/perf.data" --comm sudo --percentage relative \
  --no-children --sort dso,sym --stdio -g none 2>/dev/null |
  grep '%' | head -30

# One traced run: -tt and -T give the wall time of each system call, which
# shows where a single sudo waits (library loading, TLS, fsync, exit).
strace -f -tt -T -o "$DIR/sudo.strace" \
  setpriv --reuid alice --regid alice --init-groups -- \
  /usr/bin/sudo -n /usr/bin/true
echo "== one traced run: $DIR/sudo.strace"
grep -E 'execve\("/usr/bin/sudo|sudo_zsp.so|zsp.conf|connect\(.*AF_INET|fsync|execveat|exited' \
  "$DIR/sudo.strace" | cut -c1-120
