#!/bin/bash
# The zsp story, end to end, on this machine: a broker on 127.0.0.1, the
# real sudo with sudo_zsp, and a private journald, all inside a private
# mount namespace, so the real /etc is untouched. Run as root via
# `make demo`.
. "$(dirname "$0")/lib/harness.sh"
zsp_enter_namespace "$@"
set -e

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() {
  printf '$ %s\n' "$*"
  "$@" 2>&1 | sed 's/^/  /'
  return "${PIPESTATUS[0]}"
}

step "Private mount namespace: overlays on /etc and /var, own journald"
zsp_private_system
ZSP_HOST=$(hostname)
zsp_add_users dana sam
echo "demo users: dana (engineer), sam (approver and admin)"

step "Start zsp-broker with its embedded SQLite store"
zsp_start_broker dana sam:approver,admin
echo "broker listening at $ZSP_BROKER_URL (mutual TLS for hosts)"

step "Enable sudo_zsp in the private /etc/sudo.conf"
zsp_install_host
show cat /etc/sudo.conf
show cat /etc/zsp/zsp.conf

step "dana has no grant: sudo is denied"
show as_user dana sudo -n id || true

step "dana asks for one hour of 'id' as root"
id=$(zspctl_as dana request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/id --duration 1h --reason "demo: check root access" \
  --quiet)
echo "request $id filed"
show zspctl_as dana status "$id"

step "dana cannot approve her own request"
show zspctl_as dana approve "$id" || true

step "sam approves it"
show zspctl_as sam approve "$id" --comment "ok for the demo"

step "dana runs sudo id: allowed, with a time limit of the grant's end"
show as_user dana sudo id

step "sam revokes the grant"
grant=$(zspctl_as sam --json status "$id" | grep -o 'g-[0-9a-f]*' | head -1)
show zspctl_as sam revoke "$grant" --reason "demo over"

step "dana runs sudo id again: denied"
show as_user dana sudo id || true

step "The decisions in the journal"
journalctl --sync 2>/dev/null || true
show journalctl --no-pager -t sudo_zsp -o short-iso
step "One decision with all its fields"
show journalctl --no-pager -t sudo_zsp -o verbose -n 1 ZSP_DECISION=allow

step "Done; the namespace, broker and journald are cleaned up on exit"
