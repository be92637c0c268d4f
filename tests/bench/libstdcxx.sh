#!/bin/bash
# Times the modules with libstdc++ linked in statically (the Makefile's
# MODULE_STATIC, as built and shipped) against the same objects linked
# with the shared libstdc++, in one run. The rows are pamtester's account
# phase with no configuration file and with a warm decision cache, and
# `sudo -n true` with a warm cache. They are interleaved in batches of 10
# next to pam_permit and sudoers. Runs inside the harness's private
# namespaces, like run.sh.
#
# Usage: tests/bench/libstdcxx.sh [RUNS]   (default 200 per row; build
# with make bench first)
. "$(dirname "$0")/../lib/harness.sh"
zsp_enter_namespace "$@"
set -u

RUNS=${1:-200}
BATCH=10
TOOLS="$ZSP_BUILD/bench"
SHARED="$TOOLS/shared-libstdcxx"

fail() {
  echo "libstdcxx: $*" >&2
  exit 1
}

[ -x "$TOOLS/bench_exec" ] || fail "$TOOLS/bench_exec is missing; run make bench"

# The shared variants, from the objects of the shipped modules, linked
# as the Makefile links the modules (LDHARDEN) but without MODULE_STATIC.
mkdir -p "$SHARED"
for module in pam_zsp sudo_zsp; do
  extra=""
  [ "$module" = pam_zsp ] && extra=-lpam
  g++ -shared -Wl,-z,relro,-z,now -Wl,-z,nodelete \
    -Wl,--version-script="$ZSP_ROOT/$module/$module.map" -o "$SHARED/$module.so" \
    "$ZSP_BUILD/$module/$module.o" "$ZSP_BUILD/libzsp.a" $extra \
    -Wl,--as-needed -lsodium || fail "cannot link $SHARED/$module.so"
done
for module in pam_zsp sudo_zsp; do
  readelf -d "$ZSP_BUILD/$module.so" | grep -q 'NEEDED.*libstdc++' &&
    fail "$ZSP_BUILD/$module.so needs the shared libstdc++; rebuild it"
done

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || fail "broker did not start"
zsp_install_host
zsp_grant_login alice bob 8h >/dev/null || fail "could not grant a login"
zsp_grant_sudo alice bob /usr/bin/true 8h >/dev/null ||
  fail "could not grant sudo"
zsp_write_config "$ZSP_BROKER_URL" "decision_cache = 30s"
echo 'alice ALL=(root) NOPASSWD: /usr/bin/true' >/etc/sudoers.d/zsp-bench
chmod 440 /etc/sudoers.d/zsp-bench
TIMES="$ZSP_TMP/libstdcxx"
install -d -m 777 "$TIMES"

echo "account required pam_permit.so" >/etc/pam.d/bench-permit
for variant in static shared; do
  dir=$ZSP_BUILD
  [ "$variant" = shared ] && dir=$SHARED
  printf 'account optional %s conf=/nonexistent/zsp.conf\naccount required pam_permit.so\n' \
    "$dir/pam_zsp.so" >"/etc/pam.d/bench-load-$variant"
  echo "account required $dir/pam_zsp.so conf=/etc/zsp/zsp.conf" \
    >"/etc/pam.d/bench-cached-$variant"
done
pam_rows="permit load-static load-shared cached-static cached-shared"
sudo_rows="sudoers static shared"

use_sudo() {
  case $1 in
  sudoers) : >/etc/sudo.conf ;;
  static) echo "Plugin sudo_zsp_policy $ZSP_BUILD/sudo_zsp.so conf=/etc/zsp/zsp.conf" >/etc/sudo.conf ;;
  shared) echo "Plugin sudo_zsp_policy $SHARED/sudo_zsp.so conf=/etc/zsp/zsp.conf" >/etc/sudo.conf ;;
  esac
}

# Warms the caches and checks that every row succeeds.
for row in permit cached-static cached-shared; do
  pamtester "bench-$row" alice acct_mgmt >/dev/null ||
    fail "pamtester bench-$row failed"
done
for row in $sudo_rows; do
  use_sudo "$row"
  as_user alice sudo -n /usr/bin/true || fail "sudo through $row failed"
done

for _ in $(seq $((RUNS / BATCH))); do
  for row in $pam_rows; do
    "$TOOLS/bench_exec" --times "$TIMES/pam-$row.txt" "$BATCH" \
      /usr/bin/pamtester "bench-$row" alice acct_mgmt >/dev/null 2>&1 ||
      fail "pamtester bench-$row failed"
  done
  for row in $sudo_rows; do
    use_sudo "$row"
    as_user alice "$TOOLS/bench_exec" --times "$TIMES/sudo-$row.txt" \
      "$BATCH" /usr/bin/sudo -n /usr/bin/true >/dev/null ||
      fail "sudo through $row failed"
  done
done

# median FILE: the median of the numbers in FILE, one per line.
median() {
  sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] }'
}

echo "== libstdc++ static against shared, median ms of $RUNS runs"
printf '%-40s %8s %8s %10s\n' "" static shared difference
row() {
  local label=$1 static shared
  static=$(median "$TIMES/$2.txt")
  shared=$(median "$TIMES/$3.txt")
  printf '%-40s %8s %8s %10s\n' "$label" "$static" "$shared" \
    "$(awk -v a="$static" -v b="$shared" 'BEGIN { printf "%+.2f", a - b }')"
}
printf '%-40s %8s\n' "pamtester, pam_permit only" "$(median "$TIMES/pam-permit.txt")"
row "pamtester, pam_zsp with no configuration" pam-load-static pam-load-shared
row "pamtester, pam_zsp with a warm cache" pam-cached-static pam-cached-shared
printf '%-40s %8s\n' "sudo -n true, sudoers" "$(median "$TIMES/sudo-sudoers.txt")"
row "sudo -n true, sudo_zsp with a warm cache" sudo-static sudo-shared
