#!/bin/bash
# The invoking user is hostile. Under sudo and su the environment, argv,
# cwd, resource limits, open descriptors and signals belong to the user,
# while sudo_zsp.so and pam_zsp.so run as root inside those setuid
# programs. Through the real sudo and the real su (real libpam), this suite
# checks that:
#   - no environment variable changes the broker, the CA, the keys or the
#     configuration, or makes any process open or write a file the user
#     named (an inotify watch sees every open in the directories the
#     variables point to);
#   - resource limits give a denial or a recorded allow, never a crash, a
#     hang or a broken audit spool;
#   - signals to the waiting front end never lead to an allow that the
#     broker's decision no longer supports;
#   - closed standard descriptors, huge argv and environment, control
#     characters and unreadable or deleted working directories are handled;
#   - Unicode bidirectional formatting characters and C1 controls reach no
#     terminal or journal field raw, and the broker rejects them in text
#     fields.
# alice holds a sudo grant for /usr/bin/id and /usr/bin/true and a login
# grant; bob holds nothing. The attacker's broker used below signs allows
# for anyone with the real decision key, so being steered to it would
# turn bob's denial into an allow.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
zsp_add_users alice bob
zsp_start_broker alice bob:approver || exit 1
zsp_install_host

sudo_allow_id=34880e3274ec4b8197a9866f02897fbe
spool=/var/lib/zsp/spool/audit.jsonl

helper_pids=()
hostile_cleanup() {
  local pid
  for pid in "${helper_pids[@]}"; do kill "$pid" 2>/dev/null; done
  zsp_cleanup
}
trap hostile_cleanup EXIT

zsp_grant_sudo alice bob /usr/bin/id >/dev/null || fail "setup: id grant" "failed"
zsp_grant_sudo alice bob /usr/bin/true >/dev/null ||
  fail "setup: true grant" "failed"
login_request=$(zspctl_as alice request --host "$ZSP_HOST" --login \
  --duration 1h --reason "hostile user test" --quiet) &&
  zspctl_as bob approve "$login_request" >/dev/null ||
  fail "setup: login grant" "failed"

# su asks pam_zsp for the target's login grant; auth always passes here,
# so pam_zsp alone decides.
cat >/etc/pam.d/su <<EOF
auth     sufficient pam_permit.so
account  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
session  required $ZSP_BUILD/pam_zsp.so conf=/etc/zsp/zsp.conf
EOF

# start_hostile MODE CERT [CA_OUT]: starts a hostile broker, writes the CA
# of its certificate to CA_OUT if given, and sets HOSTILE_URL.
start_hostile() {
  local out="$ZSP_TMP/hostile.$RANDOM.port"
  local -a extra=()
  [ -n "${3:-}" ] && extra=(--ca-out "$3")
  "$ZSP_BUILD/hostile_broker" --broker-dir "$ZSP_BROKER_DIR" --mode "$1" \
    --cert "$2" "${extra[@]}" >"$out" 2>>"$ZSP_TMP/hostile.log" &
  helper_pids+=($!)
  for _ in $(seq 100); do
    [ -s "$out" ] && break
    sleep 0.05
  done
  HOSTILE_URL="https://127.0.0.1:$(cat "$out")"
}

# expect_not_killed NAME: the last run ended by itself, not by a signal.
# One exception: after a denial, su (util-linux 2.38) records the failure
# in /var/log/btmp, and under RLIMIT_FSIZE 0 that write of su's own raises
# SIGXFSZ. That counts only when pam_zsp's denial came first.
expect_not_killed() {
  if [ "$STATUS" -lt 128 ]; then pass "$1"
  elif [ "$STATUS" = 153 ] && printf '%s' "$OUT" | grep -q 'zsp: login denied'; then
    pass "$1 (su's own btmp write after pam_zsp denied)"
  else
    fail "$1" "exit status $STATUS: killed by signal $((STATUS - 128))"
  fi
}

# expect_spool_intact NAME: the audit spool ends with a whole line and its
# hash chain verifies.
expect_spool_intact() {
  local out
  if [ -s "$spool" ] && [ "$(tail -c1 "$spool" | od -An -c | tr -d ' ')" != '\n' ]; then
    OUT=$(tail -c 200 "$spool") fail "$1" "spool does not end with a newline"
    return
  fi
  if out=$("$ZSP_BUILD/zspctl" audit verify --spool "$spool" 2>&1); then
    pass "$1"
  else
    OUT=$out fail "$1" "zspctl audit verify failed"
  fi
}

# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------

# The files the hostile variables name: a CA that signs the attacker's
# broker, an OpenSSL configuration, a library to preload, a zsp.conf that
# points at the attacker's broker, and home and temporary directories.
trap_dir="$ZSP_TMP/trap"
mkdir -p "$trap_dir/home" "$trap_dir/tmp" "$trap_dir/lib" "$trap_dir/certs"
start_hostile allow wrong-ca "$trap_dir/ca.pem"
attacker_url=$HOSTILE_URL
cp "$trap_dir/ca.pem" "$trap_dir/certs/ca.pem"
printf 'openssl_conf = init\n[init]\nproviders = p\n[p]\nevil = evil\n[evil]\nmodule = %s\nactivate = 1\n' \
  "$trap_dir/lib/evil.so" >"$trap_dir/openssl.cnf"
: >"$trap_dir/lib/evil.so"
: >"$trap_dir/evil.so"
printf '127.0.0.1 localhost\n' >"$trap_dir/hosts"
cat >"$trap_dir/zsp.conf" <<EOF
broker_url = $attacker_url
ca_file = $trap_dir/ca.pem
client_cert = /etc/zsp/host.pem
client_key = /etc/zsp/host.key
decision_key = /etc/zsp/decision.pub
EOF
chown -R alice:alice "$trap_dir"
chmod -R a+rX "$trap_dir"
chmod 755 "$ZSP_TMP"

# A plain TCP listener that never accepts stands in for a proxy: its
# accept queue shows whether anybody connected.
"$ZSP_BUILD/tcp_blackhole" >"$ZSP_TMP/proxy.port" &
helper_pids+=($!)
for _ in $(seq 50); do [ -s "$ZSP_TMP/proxy.port" ] && break; sleep 0.05; done
proxy="http://127.0.0.1:$(cat "$ZSP_TMP/proxy.port")"

hostile_env=(
  LD_PRELOAD="$trap_dir/evil.so" LD_LIBRARY_PATH="$trap_dir/lib"
  LD_AUDIT="$trap_dir/evil.so" GCONV_PATH="$trap_dir/lib"
  LOCPATH="$trap_dir/lib" HOSTALIASES="$trap_dir/hosts"
  RES_OPTIONS="timeout:30 attempts:5" LOCALDOMAIN=attacker.invalid
  SSLKEYLOGFILE="$trap_dir/keylog" CURL_CA_BUNDLE="$trap_dir/ca.pem"
  SSL_CERT_FILE="$trap_dir/ca.pem" SSL_CERT_DIR="$trap_dir/certs"
  OPENSSL_CONF="$trap_dir/openssl.cnf" OPENSSL_MODULES="$trap_dir/lib"
  OPENSSL_ENGINES="$trap_dir/lib" CURL_SSL_BACKEND=gnutls
  HTTPS_PROXY="$proxy" https_proxy="$proxy" ALL_PROXY="$proxy"
  all_proxy="$proxy" http_proxy="$proxy" NO_PROXY= no_proxy=
  HOME="$trap_dir/home" CURL_HOME="$trap_dir/home"
  XDG_CONFIG_HOME="$trap_dir/home" TMPDIR="$trap_dir/tmp"
  ZSP_CONF="$trap_dir/zsp.conf" ZSP_CONFIG="$trap_dir/zsp.conf"
  ZSP_CONFIG_FILE="$trap_dir/zsp.conf" ZSP_BROKER_URL="$attacker_url"
  ZSP_BROKER="$attacker_url" ZSP_CA_FILE="$trap_dir/ca.pem"
  ZSP_DECISION_KEY="$trap_dir/ca.pem" ZSP_SPOOL_DIR="$trap_dir/tmp"
  ZSP_DEBUG=1 ZSP_TOKEN=stolen ZSP_HOST="$ZSP_HOST"
)

# Control: the attacker's broker does allow bob when the configuration
# (not the environment) points at it and trusts its CA.
cp /etc/zsp/zsp.conf "$ZSP_TMP/zsp.conf.real"
zsp_write_config "$attacker_url"
sed -i "s|^ca_file = .*|ca_file = $trap_dir/ca.pem|" /etc/zsp/zsp.conf
run as_user bob sudo -n id
expect_status "env control: attacker's broker allows bob when configured" 0
expect_output "env control: bob's command ran as root" "uid=0(root)"
install -m 644 "$ZSP_TMP/zsp.conf.real" /etc/zsp/zsp.conf

"$ZSP_BUILD/open_watch" "$trap_dir" "$trap_dir/home" "$trap_dir/tmp" \
  "$trap_dir/lib" "$trap_dir/certs" >"$ZSP_TMP/opens.log" 2>&1 &
helper_pids+=($!)
for _ in $(seq 100); do grep -q ready "$ZSP_TMP/opens.log" && break; sleep 0.05; done

# Control: the watch sees a read of one of the files.
as_user alice cat "$trap_dir/openssl.cnf" >/dev/null
sleep 0.2
OUT=$(cat "$ZSP_TMP/opens.log")
expect_output "env control: watch sees an open" "OPEN $trap_dir/openssl.cnf"
: >"$ZSP_TMP/opens.log"

run as_user alice env "${hostile_env[@]}" sudo -n id
expect_status "env sudo: alice still allowed" 0
expect_output "env sudo: command ran as root" "uid=0(root)"
expect_faster "env sudo: no proxy or DNS delay" 3000
OUT=$(zsp_journal_json MESSAGE_ID=$sudo_allow_id ZSP_USER=alice | tail -1)
expect_output "env sudo: allow came from the configured broker" \
  "\"ZSP_BROKER\":\"$ZSP_BROKER_URL\""

run as_user bob env "${hostile_env[@]}" sudo -n id
expect_fail "env sudo: bob still denied"
expect_output "env sudo: bob's answer came from the real broker" "no active grant"
expect_no_output "env sudo: bob's command did not run" "uid=0"

run as_user alice env "${hostile_env[@]}" sudo -l
expect_status "env sudo -l: listing from the configured broker" 0
expect_output "env sudo -l: shows alice's grant" "/usr/bin/id"

run as_user bob env "${hostile_env[@]}" su alice -c 'id -un'
expect_status "env su: login grant still allows" 0
expect_output "env su: ran as alice" "alice"
expect_faster "env su: no proxy or DNS delay" 3000

run as_user alice env "${hostile_env[@]}" su bob -c 'id -un'
expect_fail "env su: no login grant still denies"
expect_no_output "env su: did not run as bob" "bob"

sleep 0.2
OUT=$(cat "$ZSP_TMP/opens.log")
expect_equal "env: no file the variables name was opened or written" \
  "$(grep -v '^ready' "$ZSP_TMP/opens.log" | head -5)" ""
expect_equal "env: no TLS key log written" \
  "$(ls "$trap_dir/keylog" 2>/dev/null)" ""
queued=$(ss -Hltn "sport = :${proxy##*:}" | awk '{ print $2 }')
expect_equal "env: nobody connected to the proxy" "$queued" "0"
expect_spool_intact "env: spool intact"

# The configured URL answered by the attacker's broker, whose CA the
# variables name: TLS must still check against the configured CA only.
zsp_write_config "$attacker_url"
run as_user bob env "${hostile_env[@]}" sudo -n id
expect_fail "env CA: attacker's CA in the environment not trusted"
expect_output "env CA: TLS verification failed" "certificate"
expect_no_output "env CA: bob's command did not run" "uid=0"
run as_user alice env "${hostile_env[@]}" su bob -c 'id -un'
expect_fail "env CA: su not allowed through the attacker's broker"
install -m 644 "$ZSP_TMP/zsp.conf.real" /etc/zsp/zsp.conf

# ---------------------------------------------------------------------------
# Resource limits. sudo 1.9.13 raises some limits for itself (not
# RLIMIT_FSIZE) before it loads the plugin. su raises none, so pam_zsp
# meets them as the user set them.
# ---------------------------------------------------------------------------

# limit_case NAME PRLIMIT_OPTION: runs sudo and su for alice (granted) and
# bob (not granted) under the limit.
limit_case() {
  local name=$1 limit=$2
  run as_user bob prlimit "$limit" sudo -n id
  expect_fail "$name sudo: bob denied"
  expect_not_killed "$name sudo: bob's sudo not killed"
  expect_no_output "$name sudo: bob's command did not run" "uid=0"
  expect_faster "$name sudo: bob's denial in bounded time" 5000

  run as_user alice prlimit "$limit" sudo -n id
  expect_not_killed "$name sudo: alice's sudo not killed"
  expect_faster "$name sudo: alice's decision in bounded time" 5000
  if [ "$STATUS" = 0 ]; then
    expect_output "$name sudo: alice's allow ran id" "uid=0(root)"
  else
    expect_no_output "$name sudo: alice's denial ran nothing" "uid=0"
  fi

  run as_user alice prlimit "$limit" su bob -c 'id -un'
  expect_fail "$name su: no login grant denied"
  expect_not_killed "$name su: su not killed"
  expect_no_output "$name su: did not run as bob" "bob"
  expect_faster "$name su: denial in bounded time" 5000

  run as_user bob prlimit "$limit" su alice -c 'id -un'
  expect_not_killed "$name su: granted su not killed"
  expect_faster "$name su: granted decision in bounded time" 5000
  if [ "$STATUS" != 0 ]; then
    expect_no_output "$name su: granted su's failure ran nothing" "alice"
  fi

  expect_spool_intact "$name: spool intact"
}

limit_case "nofile=4" --nofile=4
limit_case "nofile=12" --nofile=12
limit_case "as=32MiB" --as=$((32 * 1024 * 1024))
limit_case "as=256MiB" --as=$((256 * 1024 * 1024))
limit_case "fsize=0" --fsize=0
limit_case "cpu=1s" --cpu=1
limit_case "core=unlimited" --core=unlimited
# A limit just above the spool's size lets a write of the next record
# start and stop part way: the record must be rolled back, not torn.
limit_case "fsize=spool+40" --fsize=$(($(stat -c %s "$spool") + 40))

run as_user alice sudo -n id
expect_status "limits: alice allowed again without limits" 0

# ---------------------------------------------------------------------------
# Signals to the front end while it waits for the broker. The slow broker
# answers after 3 s with an allow for anyone that is valid for 2 s.
# ---------------------------------------------------------------------------
start_hostile slow-allow good
# A long timeout and no clock skew allowance leave only the decision's own
# expiry to stop a resumed front end.
zsp_write_config "$HOSTILE_URL" "clock_skew = 0"
sed -i 's/^timeout_ms = 2000$/timeout_ms = 10000/' /etc/zsp/zsp.conf

# exec_as_bob CMD...: as_user bob without the function's subshell, so that
# a background job's $! is the pid of CMD itself.
exec_as_bob() {
  exec setpriv --reuid bob --regid bob --init-groups -- env -i \
    HOME=/home/bob USER=bob LOGNAME=bob TERM=dumb \
    PATH=/usr/local/bin:/usr/bin:/bin "$@"
}

# signal_case SIGNAL [STOP_SECONDS]: starts bob's sudo, sends SIGNAL as bob
# once sudo is connected to the slow broker, resumes it after STOP_SECONDS
# if given, and leaves the exit status in STATUS and the output in OUT. The
# command creates $marker.
marker=/root/hostile-marker
signal_case() {
  local signal=$1 stop=${2:-} out="$ZSP_TMP/signal.out" pid start end i
  rm -f "$marker"
  start=$(date +%s%N)
  (exec_as_bob sudo -n /usr/bin/touch "$marker") >"$out" 2>&1 &
  pid=$!
  # The signal must land while the plugin waits for the broker, before
  # the broker's answer lets sudo run the command. A loaded machine can
  # take a second or more to start sudo and the kill.
  for i in $(seq 100); do
    ss -Htnp state established "( dport = :${HOSTILE_URL##*:} )" |
      grep -q "pid=$pid," && break
    sleep 0.02
  done
  as_user bob kill -s "$signal" "$pid"
  RESUMED_AT=
  if [ -n "$stop" ]; then
    sleep "$stop"
    STOPPED_STATE=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)
    RESUMED_AT=$(date +%s)
    as_user bob kill -s CONT "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  STATUS=$?
  end=$(date +%s%N)
  ELAPSED_MS=$(((end - start) / 1000000))
  OUT=$(cat "$out")
}

run as_user bob sudo -n /usr/bin/touch "$marker"
expect_status "signal control: slow broker allows bob without a signal" 0
rm -f "$marker"

signal_case INT
expect_fail "SIGINT: sudo does not succeed"
expect_equal "SIGINT: command did not run" "$(ls "$marker" 2>/dev/null)" ""

signal_case TERM
expect_fail "SIGTERM: sudo does not succeed"
expect_equal "SIGTERM: command did not run" "$(ls "$marker" 2>/dev/null)" ""

signal_case KILL
expect_equal "SIGKILL: sudo killed" "$STATUS" "137"
expect_equal "SIGKILL: command did not run" "$(ls "$marker" 2>/dev/null)" ""

# Stopped for 6 s, the front end outlives the 2 s decision that arrives
# 3 s after its request: resuming must not use it.
signal_case STOP 6
expect_equal "SIGSTOP: sudo was stopped" "$STOPPED_STATE" "T"
expect_fail "SIGSTOP: expired decision not used after resume"
expect_equal "SIGSTOP: command did not run" "$(ls "$marker" 2>/dev/null)" ""
expect_faster "SIGSTOP: decided soon after resume" 10000

# sudo catches SIGTSTP while it waits and acts on it only after the plugin
# has returned, between the decision and the exec: the command then starts
# when the user resumes sudo. The decision itself must still have been
# taken on the fresh answer, before the stop ended.
# NOTE: the delayed start is sudo's behaviour (1.9.13) and outside the
# plugin's reach; docs/threat-model.md lists it as a gap.
signal_case TSTP 6
expect_not_killed "SIGTSTP: sudo not killed"
if [ -e "$marker" ]; then
  allowed_us=$(zsp_journal_json MESSAGE_ID=$sudo_allow_id ZSP_USER=bob |
    tail -1 | grep -o '"__REALTIME_TIMESTAMP":"[0-9]*"' | grep -o '[0-9]*')
  allowed_at=$((${allowed_us:-0} / 1000000))
  if [ "$allowed_at" -gt 0 ] && [ "$allowed_at" -le $((RESUMED_AT - 2)) ]; then
    pass "SIGTSTP: allow decided before the stop ended"
  else
    fail "SIGTSTP: allow decided before the stop ended" \
      "allow recorded at $allowed_at, resumed at $RESUMED_AT"
  fi
else
  expect_fail "SIGTSTP: without the command, sudo reports failure"
fi
expect_faster "SIGTSTP: decided in bounded time" 10000

# A core dump of the root process would hold the TLS key: the kernel must
# not write one into the user's directory, even with RLIMIT_CORE raised.
core_dir=/home/bob/cores
install -d -o bob -g bob "$core_dir"
rm -f "$marker"
(cd "$core_dir" && exec_as_bob prlimit --core=unlimited \
  sudo -n /usr/bin/touch "$marker") >/dev/null 2>&1 &
pid=$!
sleep 0.5
as_user bob kill -s SEGV "$pid"
wait "$pid" 2>/dev/null
STATUS=$?
expect_fail "SIGSEGV with RLIMIT_CORE: sudo does not succeed"
expect_equal "SIGSEGV with RLIMIT_CORE: no core file" "$(ls "$core_dir")" ""
expect_equal "SIGSEGV with RLIMIT_CORE: command did not run" \
  "$(ls "$marker" 2>/dev/null)" ""

install -m 644 "$ZSP_TMP/zsp.conf.real" /etc/zsp/zsp.conf
expect_spool_intact "signals: spool intact"
run as_user alice sudo -n id
expect_status "signals: alice allowed again" 0

# ---------------------------------------------------------------------------
# Closed standard descriptors. The first files the module opens would get
# descriptors 0 to 2 and receive whatever sudo or a library prints.
# ---------------------------------------------------------------------------
run as_user alice bash -c 'sudo -n true <&- >&- 2>&-'
expect_status "closed fds: alice allowed" 0
run as_user bob bash -c 'sudo -n true <&- >&- 2>&-'
expect_status "closed fds: bob denied" 1
run as_user bob bash -c 'su alice -c true <&- >&- 2>&-'
expect_status "closed fds: su with grant allowed" 0
run as_user alice bash -c 'su bob -c true <&- >&- 2>&-'
expect_fail "closed fds: su without grant denied"
expect_spool_intact "closed fds: spool intact"
OUT=$(grep -v '^{' "$spool" | head -3)
expect_equal "closed fds: every spool line is a record" "$OUT" ""
expect_equal "closed fds: config file unchanged" \
  "$(cmp /etc/zsp/zsp.conf "$ZSP_TMP/zsp.conf.real" && echo same)" "same"

# ---------------------------------------------------------------------------
# Huge argv and environment, control characters
# ---------------------------------------------------------------------------
many_args=$(seq 5000 | tr '\n' ' ')
run as_user alice bash -c "sudo -n true $many_args"
expect_fail "argv: 5000 arguments denied"
expect_output "argv: user told there are too many arguments" \
  "too many arguments"
expect_faster "argv: 5000 arguments denied quickly" 3000

big_arg=$(head -c 131000 /dev/zero | tr '\0' 'a')
run as_user bob sudo -n true "$big_arg"
expect_fail "argv: 128 KiB argument without a grant denied"
expect_not_killed "argv: 128 KiB argument, sudo not killed"
expect_faster "argv: 128 KiB argument decided quickly" 3000
run as_user alice sudo -n true "$big_arg"
expect_not_killed "argv: 128 KiB argument with a grant, sudo not killed"
expect_faster "argv: 128 KiB argument with a grant decided quickly" 3000
OUT=$(zsp_journal_json ZSP_USER=bob MESSAGE_ID=e4fcdd60972f4768ace9012fa6cef4f7 |
  tail -1)
if [ "${#OUT}" -lt 65536 ]; then
  pass "argv: journal record of the huge argument is capped"
else
  fail "argv: journal record of the huge argument is capped" \
    "record is ${#OUT} bytes"
fi

big_env=()
for i in $(seq 3000); do big_env+=("JUNK_$i=$i"); done
big_env+=("HUGE=$(head -c 100000 /dev/zero | tr '\0' 'b')")
run as_user alice env "${big_env[@]}" sudo -n id
expect_status "env size: 3000 variables and a 100 KB value, alice allowed" 0
run as_user bob env "${big_env[@]}" sudo -n id
expect_fail "env size: bob denied"
grant_env=$(zsp_grant_sudo alice bob /usr/bin/env) ||
  fail "env size: grant for env" "request failed"
run as_user alice env "${big_env[@]}" TERM=$'xterm\e]0;x\a' sudo -n env
expect_status "env size: sudo env allowed" 0
expect_no_output "env size: junk not passed to the command" "JUNK_1="
expect_no_output "env size: huge value not passed to the command" "HUGE="
expect_no_output "env size: TERM with control characters dropped" "TERM="

run as_user bob sudo -n $'/usr/bin/id\e[2J\e]0;pwned\a'
expect_fail "control: command with escape sequences denied"
if printf '%s' "$OUT" | grep -q $'\e'; then
  fail "control: no raw ESC reaches the terminal" "output has ESC"
else
  pass "control: no raw ESC reaches the terminal"
fi
run as_user bob sudo -n -u $'root\e[2J' id
expect_fail "control: run-as user with escape sequences denied"
if printf '%s' "$OUT" | grep -q $'\e'; then
  fail "control: run-as user escaped in the message" "output has ESC"
else
  pass "control: run-as user escaped in the message"
fi

# Unicode bidirectional formatting characters and C1 controls can make a
# terminal show a command or reason in another order than it is stored
# (CVE-2021-42574). They must reach no terminal or journal field raw.
rlo=$'\xe2\x80\xae' # U+202E RIGHT-TO-LEFT OVERRIDE
lri=$'\xe2\x81\xa6' # U+2066 LEFT-TO-RIGHT ISOLATE
pdi=$'\xe2\x81\xa9' # U+2069 POP DIRECTIONAL ISOLATE
csi=$'\xc2\x9b'     # U+009B CONTROL SEQUENCE INTRODUCER
# has_hidden TEXT: true when TEXT contains one of the four characters raw.
has_hidden() {
  printf '%s' "$1" | LC_ALL=C grep -qF -e "$rlo" -e "$lri" -e "$pdi" -e "$csi"
}
# expect_no_hidden NAME TEXT
expect_no_hidden() {
  if has_hidden "$2"; then
    fail "$1" "raw bidirectional or C1 character"
  else
    pass "$1"
  fi
}

tricky_arg="safe${rlo}${lri} ;id${pdi}${lri}${csi}"
run as_user bob sudo -n /usr/bin/id "$tricky_arg"
expect_fail "bidi: bob's command with U+202E denied"
expect_no_hidden "bidi: denial text has no raw U+202E, U+2066, U+009B" "$OUT"
record=$(zsp_journal_json ZSP_USER=bob MESSAGE_ID=e4fcdd60972f4768ace9012fa6cef4f7 |
  tail -1)
expect_no_hidden "bidi: denial journal record has no raw characters" "$record"
expect_equal "bidi: ZSP_COMMAND shows them as \\xNN" \
  "$(jq -r .ZSP_COMMAND <<<"$record")" \
  '/usr/bin/id "safe\xe2\x80\xae\xe2\x81\xa6 ;id\xe2\x81\xa9\xe2\x81\xa6\xc2\x9b"'
OUT=$(jq -r .MESSAGE <<<"$record")
expect_output "bidi: MESSAGE shows U+202E as \\xNN" 'safe\xe2\x80\xae'

run as_user alice sudo -n /usr/bin/true "$tricky_arg"
expect_status "bidi: alice's granted command with U+202E runs" 0
record=$(zsp_journal_json ZSP_USER=alice MESSAGE_ID=$sudo_allow_id | tail -1)
expect_no_hidden "bidi: allow journal record has no raw characters" "$record"
expect_equal "bidi: allow ZSP_COMMAND shows them as \\xNN" \
  "$(jq -r .ZSP_COMMAND <<<"$record")" \
  '/usr/bin/true "safe\xe2\x80\xae\xe2\x81\xa6 ;id\xe2\x81\xa9\xe2\x81\xa6\xc2\x9b"'

# The broker rejects them in a reason and a command entry, naming the
# character, and keeps an accented letter. The requests name
# /usr/bin/whoami because one for /usr/bin/id would overlap alice's grant
# and fail with 409 whatever its reason.
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/whoami --duration 1h --reason "fix ${rlo}txt.exe"
expect_fail "bidi: reason with U+202E rejected"
expect_output "bidi: rejection names the field and U+202E" \
  "reason: contains the bidirectional formatting character U+202E"
expect_no_hidden "bidi: rejection shows no raw U+202E" "$OUT"
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/whoami --duration 1h --reason "CSI ${csi}2J"
expect_fail "bidi: reason with U+009B rejected"
expect_output "bidi: rejection names U+009B" "control character U+009B"
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command "/usr/bin/echo ${lri}x" --duration 1h --reason "test"
expect_fail "bidi: command entry with U+2066 rejected"
expect_output "bidi: rejection names the command entry and U+2066" "U+2066"
expect_output "bidi: rejection names the commands field" "commands:"
run zspctl_as alice request --host "$ZSP_HOST" --sudo --runas root \
  --command /usr/bin/whoami --duration 1h --reason $'caf\xc3\xa9 check' \
  --quiet
expect_status "bidi: reason with an accented letter accepted" 0
bidi_request=$OUT
run zspctl_as bob status "$bidi_request"
expect_output "bidi: accented letter shown as it is" $'caf\xc3\xa9 check'

# A row stored before the broker checked for these characters is still
# shown escaped by zspctl list and status, in table form and as JSON.
sqlite3 "$ZSP_BROKER_DIR/broker.db" \
  "UPDATE requests SET reason = 'old ${rlo}${lri}${csi} row', commands = '[\"/usr/bin/id ${rlo}x\"]' WHERE id = '$bidi_request'" ||
  fail "bidi: stored row changed" "sqlite3 failed"
run zspctl_as bob list
expect_status "bidi: zspctl list of an old row" 0
expect_no_hidden "bidi: zspctl list shows no raw characters" "$OUT"
expect_output "bidi: zspctl list shows U+202E as \\xNN" \
  '/usr/bin/id \xe2\x80\xaex'
run zspctl_as bob status "$bidi_request"
expect_status "bidi: zspctl status of an old row" 0
expect_no_hidden "bidi: zspctl status shows no raw characters" "$OUT"
expect_output "bidi: zspctl status shows the reason as \\xNN" \
  'old \xe2\x80\xae\xe2\x81\xa6\xc2\x9b row'
for view in list status; do
  args=("$view")
  [ "$view" = status ] && args+=("$bidi_request")
  run zspctl_as bob --json "${args[@]}"
  expect_status "bidi: zspctl --json $view of an old row" 0
  expect_no_hidden "bidi: zspctl --json $view shows no raw characters" "$OUT"
  expect_output "bidi: zspctl --json $view escapes the reason" \
    'old \u202e\u2066\u009b row'
  expect_output "bidi: zspctl --json $view escapes the command" \
    '/usr/bin/id \u202ex'
done
expect_equal "bidi: --json status still parses to the stored reason" \
  "$(jq -r .reason <<<"$OUT")" "old ${rlo}${lri}${csi} row"

long_name=$(head -c 5000 /dev/zero | tr '\0' 'x')
run as_user bob sudo -n -u "$long_name" id
expect_fail "long names: 5000-byte run-as user denied"
if [ "${#OUT}" -lt 1024 ]; then
  pass "long names: message is capped"
else
  fail "long names: message is capped" "message is ${#OUT} bytes"
fi

# ---------------------------------------------------------------------------
# umask: a spool created under the user's umask is still private
# ---------------------------------------------------------------------------
for mask in 000 777; do
  rm -rf /var/lib/zsp
  run as_user alice bash -c "umask $mask; sudo -n true"
  expect_status "umask $mask: alice allowed" 0
  expect_equal "umask $mask: spool directory mode" \
    "$(stat -c %a /var/lib/zsp/spool 2>&1)" "700"
  expect_equal "umask $mask: spool file mode" "$(stat -c %a "$spool" 2>&1)" \
    "600"
done

# ---------------------------------------------------------------------------
# The working directory
# ---------------------------------------------------------------------------
install -d -o alice -g alice -m 700 /home/alice/locked \
  /home/alice/locked/inner
printf '#!/bin/sh\necho planted\n' >/home/alice/locked/inner/id
chown alice:alice /home/alice/locked/inner/id
chmod 755 /home/alice/locked/inner/id
run as_user alice bash -c \
  'cd /home/alice/locked/inner && chmod 000 .. && chmod 100 . && sudo -n id; s=$?; chmod 700 . ..; exit $s'
expect_status "cwd unreadable: alice allowed" 0
expect_output "cwd unreadable: ran /usr/bin/id, not the planted id" "uid=0(root)"
expect_no_output "cwd unreadable: planted id not run" "planted"
run as_user alice bash -c \
  'cd /home/alice/locked/inner && chmod 000 .. && chmod 100 . && sudo -n ./id; s=$?; chmod 700 . ..; exit $s'
expect_fail "cwd unreadable: ./id in the user's directory denied"
expect_no_output "cwd unreadable: planted id not run by path" "planted"
run as_user bob bash -c 'cd /tmp && mkdir -p gone.$$ && cd gone.$$ && rmdir ../gone.$$ && sudo -n id'
expect_fail "cwd deleted: bob denied"
expect_not_killed "cwd deleted: sudo not killed"
run as_user alice bash -c 'cd /tmp && mkdir -p gone.$$ && cd gone.$$ && rmdir ../gone.$$ && sudo -n id'
expect_not_killed "cwd deleted: alice's sudo not killed"
expect_no_output "cwd deleted: no planted or stray command" "planted"
run as_user alice bash -c 'cd /tmp && mkdir -p gone.$$ && cd gone.$$ && rmdir ../gone.$$ && sudo -n ./id'
expect_fail "cwd deleted: relative command denied"

expect_spool_intact "end: spool intact"
zsp_finish
