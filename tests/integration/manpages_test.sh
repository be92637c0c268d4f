#!/bin/bash
# The manual pages in docs/man: each formats without groff warnings and
# through man(1), and the reference pages name every setting and option
# that the code accepts, so that a new key cannot ship undocumented.
# Reads files only; needs no namespace.
. "$(dirname "$0")/../lib/assert.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
# Wide pages keep options such as --runas-group on one line.
export MANWIDTH=1000

for page in "$root"/docs/man/*.[0-9]; do
  name=$(basename "$page")
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  OUT=$warnings
  expect_equal "groff: $name has no warnings" "$warnings" ""
  run man -l "$page"
  expect_status "man: $name formats" 0
done

# Every key that common/config.cc's ApplySetting accepts.
OUT=$(man -l "$root/docs/man/zsp.conf.5" 2>/dev/null)
for key in $(grep -oE 'key == "[a-z_]+"' "$root/common/config.cc" |
  grep -oE '"[a-z_]+"' | tr -d '"'); do
  expect_output "zsp.conf.5: documents $key" "$key"
done

# Every option that zspctl's request command accepts.
OUT=$(man -l "$root/docs/man/zspctl.1" 2>/dev/null)
for option in --host --login --sudo --runas --runas-group --command --env \
  --duration --reason --quiet --comment --state --mine --active --user \
  --json --broker --ca --token-file; do
  expect_output "zspctl.1: documents $option" "$option"
done

# Every module argument of pam_zsp and broker.conf key.
OUT=$(man -l "$root/docs/man/pam_zsp.8" 2>/dev/null)
for argument in conf= debug skip_users= skip_services= request \
  PAM_PERM_DENIED PAM_ACCT_EXPIRED PAM_AUTHINFO_UNAVAIL PAM_SERVICE_ERR \
  PAM_IGNORE systemd.runtime_max_sec; do
  expect_output "pam_zsp.8: documents $argument" "$argument"
done
OUT=$(man -l "$root/docs/man/zsp-broker.8" 2>/dev/null)
for key in $(grep -oE 'key == "[a-z_]+"' "$root/broker/settings.cc" |
  grep -oE '"[a-z_]+"' | tr -d '"'); do
  expect_output "zsp-broker.8: documents $key" "$key"
done

zsp_finish
