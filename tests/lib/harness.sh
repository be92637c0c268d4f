# Shared setup for zsp's integration tests and demo. Source it from bash.
#
# Everything runs inside private mount and network namespaces: /etc and
# /var become overlays whose changes vanish with the namespace, /home, /run
# and the journal directory are fresh tmpfs mounts, and a private
# systemd-journald listens on /run/systemd/journal. The network namespace
# has only its own loopback interface, so the broker, sshd and every
# connection stay inside it. Nothing on the real system changes.

ZSP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ZSP_BUILD=${ZSP_BUILD:-"$ZSP_ROOT/build"}
ZSP_HOST=testhost

# Re-runs the calling script inside new mount and network namespaces, once.
zsp_enter_namespace() {
  if [ "${ZSP_IN_NAMESPACE:-}" != 1 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "$0: must run as root (it creates a private mount namespace)" >&2
      exit 1
    fi
    # The namespace the test was started in, which the cleanup must never
    # empty (zsp_kill_namespace_processes). SIGINT goes back to its default
    # action: a runner started in the background passes it on ignored, and
    # sudo then keeps ignoring it, so the Ctrl-C cases would test nothing.
    ZSP_OUTER_MOUNT_NS=$(readlink /proc/self/ns/mnt) ZSP_IN_NAMESPACE=1 \
      exec env --default-signal=INT unshare -m -n --propagation private \
      bash "$0" "$@"
  fi
}

# Mounts the private system described above and starts journald.
zsp_private_system() {
  ZSP_TMP=$(mktemp -d /tmp/zsp-test.XXXXXX)
  chmod 755 "$ZSP_TMP"
  local d
  for d in etc var; do
    mkdir -p "$ZSP_TMP/overlay/$d/upper" "$ZSP_TMP/overlay/$d/work"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$ZSP_TMP/overlay/$d/upper,workdir=$ZSP_TMP/overlay/$d/work" "/$d"
  done
  mount -t tmpfs -o mode=755 tmpfs /home
  mount -t tmpfs -o mode=755 tmpfs /run
  mkdir -p /var/log/journal
  mount -t tmpfs -o mode=755 tmpfs /var/log/journal
  mkdir -p /run/systemd/journal /run/log /run/sudo /run/sshd
  chmod 700 /run/sudo
  ip link set lo up
  trap zsp_cleanup EXIT

  /lib/systemd/systemd-journald >"$ZSP_TMP/journald.log" 2>&1 &
  ZSP_JOURNALD_PID=$!
  local i
  for i in $(seq 100); do
    [ -S /run/systemd/journal/socket ] && return 0
    sleep 0.05
  done
  echo "harness: systemd-journald did not start; see $ZSP_TMP/journald.log" >&2
  return 1
}

# Kills every other process in this mount namespace. A process left over
# from a test, such as a sudo that the broker's exit woke, would otherwise
# write to the real /var or read the real /etc once the overlays are
# unmounted below. Processes in namespaces of their own keep their copy of
# the overlays and are left alone.
zsp_kill_namespace_processes() {
  local own=/proc/$$/ns/mnt dir pid round signal found
  # Only in a namespace that zsp_enter_namespace made, never in the one the
  # test started in, where this would kill everything.
  [ "${ZSP_IN_NAMESPACE:-}" = 1 ] && [ -n "${ZSP_OUTER_MOUNT_NS:-}" ] &&
    [ "$(readlink "$own")" != "$ZSP_OUTER_MOUNT_NS" ] || return 0
  # Killed jobs of this shell would each print a "Killed" notice.
  disown -a 2>/dev/null
  # SIGTERM first, so that the broker and journald can finish their logs,
  # then SIGKILL.
  for round in $(seq 20); do
    signal=TERM
    [ "$round" -gt 4 ] && signal=KILL
    found=0
    for dir in /proc/[0-9]*; do
      pid=${dir#/proc/}
      [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
      [[ $dir/ns/mnt -ef $own ]] || continue
      kill -s "$signal" "$pid" 2>/dev/null && found=1
    done
    [ "$found" = 0 ] && return 0
    sleep 0.05
  done
}

zsp_cleanup() {
  set +e  # cleanup runs to the end even under the caller's set -e
  [ -n "${ZSP_BROKER_PID:-}" ] && kill "$ZSP_BROKER_PID" 2>/dev/null
  [ -n "${ZSP_JOURNALD_PID:-}" ] && kill "$ZSP_JOURNALD_PID" 2>/dev/null
  [ -n "${ZSP_BLACKHOLE_PID:-}" ] && kill "$ZSP_BLACKHOLE_PID" 2>/dev/null
  [ -n "${ZSP_SSHD_PID:-}" ] && kill "$ZSP_SSHD_PID" 2>/dev/null
  [ -n "${ZSP_RECEIVER_PID:-}" ] && kill "$ZSP_RECEIVER_PID" 2>/dev/null
  zsp_kill_namespace_processes
  wait 2>/dev/null
  if [ -n "${ZSP_KEEP_TMP:-}" ]; then
    echo "harness: kept $ZSP_TMP" >&2
  else
    # The overlays are still mounted in this namespace; unmount first.
    umount -l /etc /var 2>/dev/null
    rm -rf "$ZSP_TMP"
  fi
}

# Starts tests/tools/webhook_receiver.py, which appends "PATH EVENT BODY"
# to $WEBHOOK_LOG for each delivery, and sets WEBHOOK_PORT to its port.
zsp_start_webhook_receiver() {
  WEBHOOK_LOG="$ZSP_TMP/hooks.log"
  python3 "$ZSP_ROOT/tests/tools/webhook_receiver.py" "$WEBHOOK_LOG" \
    >"$ZSP_TMP/receiver.log" 2>&1 &
  ZSP_RECEIVER_PID=$!
  local i
  for i in $(seq 50); do
    WEBHOOK_PORT=$(head -1 "$ZSP_TMP/receiver.log" 2>/dev/null)
    [ -n "$WEBHOOK_PORT" ] && return 0
    sleep 0.1
  done
  echo "harness: the webhook receiver did not start" >&2
  return 1
}

# zsp_add_webhook NAME EVENT...: appends a [[webhook]] to the broker's
# policy.toml that posts EVENTs to the receiver of
# zsp_start_webhook_receiver at path /hook. The broker reads it at its
# next start or SIGHUP.
zsp_add_webhook() {
  local name=$1 events
  shift
  events=$(printf '"%s", ' "$@")
  printf 'a-webhook-secret-for-%s\n' "$name" >"$ZSP_TMP/webhook-$name.secret"
  cat >>"$ZSP_BROKER_DIR/policy.toml" <<POLICY

[[webhook]]
name = "$name"
url = "http://127.0.0.1:$WEBHOOK_PORT/hook"
secret_file = "$ZSP_TMP/webhook-$name.secret"
events = [${events%, }]
POLICY
}

# Creates test accounts: alice requests, bob approves, carol does both.
zsp_add_users() {
  local u
  for u in "$@"; do
    useradd -m -s /bin/bash "$u"
  done
}

# Initialises and starts a broker; sets ZSP_BROKER_URL, ZSP_BROKER_DIR and
# ZSP_TOKEN_<user> for each person given as user[:role]. The broker uses
# the policy file $ZSP_POLICY when set, else the default that init writes.
# It listens on $ZSP_BROKER_LISTEN (default 127.0.0.1:0), and a broker on
# 0.0.0.0 is reached through 127.0.0.1.
zsp_start_broker() {
  ZSP_BROKER_DIR="$ZSP_TMP/broker"
  "$ZSP_BUILD/zsp-broker" init "$ZSP_BROKER_DIR" --host "$ZSP_HOST" \
    >"$ZSP_TMP/broker-init.log" 2>&1 || {
    cat "$ZSP_TMP/broker-init.log" >&2
    return 1
  }
  local spec name role token
  local -a roles
  for spec in "$@"; do
    name=${spec%%:*}
    roles=()
    if [ "$spec" != "$name" ]; then
      role=${spec#*:}
      for role in ${role//,/ }; do roles+=(--role "$role"); done
    fi
    token=$("$ZSP_BUILD/zsp-broker" user add "$ZSP_BROKER_DIR" "$name" \
      "${roles[@]}") || return 1
    printf -v "ZSP_TOKEN_$name" '%s' "$token"
  done

  # A test may bring its own policy in ZSP_POLICY instead of init's default.
  if [ -n "${ZSP_POLICY:-}" ]; then
    install -m 600 "$ZSP_POLICY" "$ZSP_BROKER_DIR/policy.toml" || return 1
  fi
  # ZSP_OIDC_CONFIG becomes the broker's oidc.toml (trusted identity
  # providers).
  if [ -n "${ZSP_OIDC_CONFIG:-}" ]; then
    install -m 600 "$ZSP_OIDC_CONFIG" "$ZSP_BROKER_DIR/oidc.toml" || return 1
  fi
  "$ZSP_BUILD/zsp-broker" serve "$ZSP_BROKER_DIR" \
    --listen "${ZSP_BROKER_LISTEN:-127.0.0.1:0}" 2>"$ZSP_TMP/broker.log" &
  ZSP_BROKER_PID=$!
  local i line
  for i in $(seq 100); do
    line=$(grep -m1 'listening on' "$ZSP_TMP/broker.log" 2>/dev/null || true)
    if [ -n "$line" ]; then
      ZSP_BROKER_URL=${line##* }
      ZSP_BROKER_URL=${ZSP_BROKER_URL/\/\/0.0.0.0:/\/\/127.0.0.1:}
      return 0
    fi
    sleep 0.05
  done
  echo "harness: broker did not start:" >&2
  cat "$ZSP_TMP/broker.log" >&2
  return 1
}

# Installs the host side into the private /etc: keys, zsp.conf, sudo.conf
# and a PAM service "zsp-test".
zsp_install_host() {
  local url=${1:-$ZSP_BROKER_URL}
  install -d -m 755 /etc/zsp
  install -m 644 "$ZSP_BROKER_DIR/ca.pem" /etc/zsp/ca.pem
  install -m 644 "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.pem" /etc/zsp/host.pem
  install -m 600 "$ZSP_BROKER_DIR/hosts/$ZSP_HOST.key" /etc/zsp/host.key
  install -m 644 "$ZSP_BROKER_DIR/decision.pub" /etc/zsp/decision.pub
  zsp_write_config "$url"
  cat >/etc/sudo.conf <<EOF
Plugin sudo_zsp_policy $ZSP_BUILD/sudo_zsp.so conf=/etc/zsp/zsp.conf
EOF
  cat >/etc/pam.d/zsp-test <<EOF
account  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
session  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
EOF
}

# Writes /etc/zsp/zsp.conf for broker URL $1; extra lines come from $2.
# The agent setting comes last, from ZSP_AGENT_MODE (default off, for the
# suites that run no zsp-agent), so the extra lines keep their numbers.
zsp_write_config() {
  # Replaces whatever is there, which may be a FIFO or a directory that a
  # test left in its place.
  rm -rf /etc/zsp/zsp.conf
  cat >/etc/zsp/zsp.conf <<EOF
# zsp host configuration written by the test harness
broker_url = $1
ca_file = /etc/zsp/ca.pem
client_cert = /etc/zsp/host.pem
client_key = /etc/zsp/host.key
decision_key = /etc/zsp/decision.pub
host = $ZSP_HOST
connect_timeout_ms = 1000
timeout_ms = 2000
${2:-}
agent = ${ZSP_AGENT_MODE:-off}
EOF
  chmod 644 /etc/zsp/zsp.conf
}

# Runs zspctl as person $1 (by their token).
zspctl_as() {
  local who=$1
  shift
  local var="ZSP_TOKEN_$who"
  ZSP_BROKER_URL=$ZSP_BROKER_URL ZSP_CA_FILE="$ZSP_BROKER_DIR/ca.pem" \
    ZSP_TOKEN=${!var} "$ZSP_BUILD/zspctl" "$@"
}

# Runs a command as local user $1 with a clean login-like environment.
as_user() {
  local who=$1
  shift
  setpriv --reuid "$who" --regid "$who" --init-groups -- \
    env -i HOME="/home/$who" USER="$who" LOGNAME="$who" TERM=dumb \
    PATH=/usr/local/bin:/usr/bin:/bin "$@"
}

# Files a sudo request for $1 and has $2 approve it; prints the request id.
zsp_grant_sudo() {
  local who=$1 approver=$2 command=$3 duration=${4:-1h} id
  id=$(zspctl_as "$who" request --host "$ZSP_HOST" --sudo --runas root \
    --command "$command" --duration "$duration" --reason "integration test" \
    --quiet) || return 1
  zspctl_as "$approver" approve "$id" >/dev/null || return 1
  echo "$id"
}

# Files a login request for $1, has $2 approve it and prints the request
# id. $3 is the duration (default 1h).
zsp_grant_login() {
  local who=$1 approver=$2 duration=${3:-1h} id
  id=$(zspctl_as "$who" request --host "$ZSP_HOST" --login \
    --duration "$duration" --reason "integration test" --quiet) || return 1
  zspctl_as "$approver" approve "$id" >/dev/null || return 1
  echo "$id"
}

# zsp_grant_of WHO REQUEST: prints the grant id of WHO's approved request.
zsp_grant_of() {
  zspctl_as "$1" --json status "$2" | grep -o '"g-[0-9a-f]*"' | head -1 |
    tr -d '"'
}

# Starts this machine's sshd on 127.0.0.1:2222 with a host key and
# configuration in the private /etc, and gives each user named as an
# argument a key pair that sshd accepts. Sets ZSP_SSHD_PID. Public-key
# logins skip PAM auth but run account and session, as in production,
# with the stack that the suite writes to /etc/pam.d/sshd. Returns 1 when
# sshd does not accept connections within 5 s.
zsp_start_sshd() {
  local user home i
  ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/zsp_test_host_key || return 1
  cat >/etc/ssh/zsp_test_sshd_config <<EOF
Port 2222
ListenAddress 127.0.0.1
HostKey /etc/ssh/zsp_test_host_key
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd-zsp-test.pid
LogLevel VERBOSE
EOF
  for user in "$@"; do
    home=/home/$user
    install -d -m 700 -o "$user" -g "$user" "$home/.ssh"
    as_user "$user" ssh-keygen -q -t ed25519 -N '' \
      -f "$home/.ssh/id_ed25519" || return 1
    install -m 600 -o "$user" -g "$user" "$home/.ssh/id_ed25519.pub" \
      "$home/.ssh/authorized_keys"
  done

  /usr/sbin/sshd -D -e -f /etc/ssh/zsp_test_sshd_config \
    2>"$ZSP_TMP/sshd.log" &
  ZSP_SSHD_PID=$!
  for i in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/2222) 2>/dev/null && return 0
    sleep 0.05
  done
  echo "harness: sshd did not start:" >&2
  cat "$ZSP_TMP/sshd.log" >&2
  return 1
}

# Runs ssh as local user $1 into their own account on the sshd that
# zsp_start_sshd started. The other arguments are the remote command.
zsp_ssh_as() {
  local who=$1
  shift
  as_user "$who" ssh -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -i "/home/$who/.ssh/id_ed25519" "$who@127.0.0.1" "$@"
}

# Prints the journal in JSON lines, after making journald write out
# everything it has received.
# zsp_stall_journald: stops the private journald and fills its socket
# queue (net.unix.max_dgram_qlen datagrams), so that every later journal
# send waits. `kill -CONT "$ZSP_JOURNALD_PID"` lets it drain again.
zsp_stall_journald() {
  kill -STOP "$ZSP_JOURNALD_PID"
  python3 -c 'import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setblocking(False)
try:
    for i in range(1000):
        s.sendto(b"MESSAGE=filler\n", "/run/systemd/journal/socket")
except BlockingIOError:
    pass'
}

zsp_journal_json() {
  journalctl --sync 2>/dev/null || sleep 0.3
  journalctl --no-pager -o json "$@" 2>/dev/null
}
