#!/bin/bash
# The local decision cache (decision_cache in zsp.conf) through the real
# sudo, the real libpam and the real broker. A repeated sudo or login within
# the bound is allowed from the cache while the broker is down. sudo -k and
# sudo -K remove the user's entries. An entry older than the bound is not
# used, so a revocation takes effect once the bound has passed, and nothing
# is cached while the setting is 0.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host
cache_dir=/run/zsp/decisions
sudo_allow_id=34880e3274ec4b8197a9866f02897fbe

request=$(zsp_grant_sudo alice bob /usr/bin/id) || exit 1

# A broker URL where nothing listens, for "the broker is down".
down_url=https://127.0.0.1:9

# --- off by default ---
run as_user alice sudo -n id
expect_status "off: sudo allowed through the broker" 0
expect_equal "off: no cache directory" "$(ls -A /run/zsp 2>/dev/null)" ""

# --- on: the first sudo gets a broker decision and stores it ---
zsp_write_config "$ZSP_BROKER_URL" "decision_cache = 4s"
run as_user alice sudo -n id
expect_status "on: first sudo allowed" 0
expect_equal "on: cache directory is root's, mode 700" \
  "$(stat -c '%U %a' $cache_dir)" "root 700"
entries=$(find $cache_dir -type f | wc -l)
expect_equal "on: one entry stored" "$entries" 1
expect_equal "on: entry is root's, mode 600" \
  "$(stat -c '%U %a' "$(find $cache_dir -type f)")" "root 600"

# --- the broker is down: the cached allow is used within the bound ---
zsp_write_config "$down_url" "decision_cache = 4s"
run as_user alice sudo -n id
expect_status "cached: sudo allowed with the broker down" 0
expect_output "cached: command ran as root" "uid=0(root)"
journal=$(zsp_journal_json MESSAGE_ID=$sudo_allow_id ZSP_USER=alice)
expect_equal "cached: allow record marked cached" \
  "$(printf '%s\n' "$journal" | tail -n1 | jq -r .ZSP_CACHED)" 1

run as_user alice sudo -n id -u
expect_fail "cached: another argv is not covered by the entry"
expect_output "cached: user told the broker is down" "could not be reached"

run as_user bob sudo -n id
expect_fail "cached: another user does not get alice's entry"

# --- sudo -k drops the entry ---
as_user alice sudo -k
run as_user alice sudo -n id
expect_fail "sudo -k: next sudo asks the broker (down: denied)"
expect_equal "sudo -k: alice's entries gone" \
  "$(find $cache_dir -type f | wc -l)" 0

# --- sudo -k COMMAND sends a new request to the broker ---
zsp_write_config "$ZSP_BROKER_URL" "decision_cache = 4s"
as_user alice sudo -n id >/dev/null
zsp_write_config "$down_url" "decision_cache = 4s"
run as_user alice sudo -k -n id
expect_fail "sudo -k id: ignores the cached entry"

# --- sudo -K drops it too ---
zsp_write_config "$ZSP_BROKER_URL" "decision_cache = 4s"
as_user alice sudo -n id >/dev/null
as_user alice sudo -K
expect_equal "sudo -K: alice's entries gone" \
  "$(find $cache_dir -type f | wc -l)" 0

# --- the bound: an entry older than decision_cache is not used ---
as_user alice sudo -n id >/dev/null
zsp_write_config "$down_url" "decision_cache = 4s"
sleep 5
run as_user alice sudo -n id
expect_fail "bound: entry older than 4 s not used"

# --- a revocation takes effect once the bound has passed ---
zsp_write_config "$ZSP_BROKER_URL" "decision_cache = 3s"
as_user alice sudo -n id >/dev/null
grant=$(zspctl_as alice --json status "$request" | jq -r .grant)
run zspctl_as alice revoke "$grant" --reason "cache test"
expect_status "revoke: grant revoked" 0
sleep 4
run as_user alice sudo -n id
expect_fail "revoke: sudo denied once the bound has passed"
expect_output "revoke: user told it was revoked" "revoked"

# --- expired entries are removed when the next entry is written ---
zsp_grant_sudo alice bob /usr/bin/id >/dev/null || exit 1
zsp_write_config "$ZSP_BROKER_URL" "decision_cache = 2s"
for i in $(seq 40); do as_user alice sudo -n id "nouser$i" >/dev/null 2>&1; done
entries=$(find "$cache_dir" -type f | wc -l)
if [ "$entries" -ge 40 ]; then pass "prune: 40 distinct commands cached"; else
  fail "prune: 40 distinct commands cached" "$entries entries"
fi
sleep 3
as_user alice sudo -n id >/dev/null
expect_equal "prune: expired entries removed by the next write" \
  "$(find "$cache_dir" -type f | wc -l)" 1

# --- an unsafe cache directory is not used ---
as_user alice sudo -n id >/dev/null
chmod 755 $cache_dir
zsp_write_config "$down_url" "decision_cache = 4s"
run as_user alice sudo -n id
expect_fail "unsafe directory: cached entry not used"
OUT=$(zsp_journal_json ZSP_USER=alice ZSP_DECISION=deny | tail -n1 |
  jq -r .ZSP_CACHE_PROBLEM)
expect_output "unsafe directory: journal says why" "want mode 0700"

# --- pam_zsp: a login decision is cached the same way ---
chmod 700 $cache_dir
zsp_write_config "$ZSP_BROKER_URL" "decision_cache = 4s"
login=$(zspctl_as alice request --host "$ZSP_HOST" --login --duration 1h \
  --reason "cache test" --quiet) || exit 1
zspctl_as bob approve "$login" >/dev/null || exit 1
run pamtester zsp-test alice acct_mgmt
expect_status "pam: account allowed through the broker" 0
zsp_write_config "$down_url" "decision_cache = 4s"
run pamtester zsp-test alice acct_mgmt
expect_status "pam: account allowed from the cache, broker down" 0
OUT=$(zsp_journal_json SYSLOG_IDENTIFIER=pam_zsp ZSP_USER=alice | tail -n1 |
  jq -r .ZSP_CACHED)
expect_equal "pam: record marked cached" "$OUT" 1
run pamtester zsp-test bob acct_mgmt
expect_fail "pam: bob gets nothing from alice's entry"

zsp_finish
