#!/bin/bash
# The journald client of the modules (common/journal_socket.cc) against a
# private systemd-journald: build/journal_send sends entries through it,
# and journalctl reads them back. A value with newlines, arbitrary bytes
# and an entry too large for any datagram (sent in a sealed memfd) must
# come back byte for byte. An invalid field name must fail the whole
# entry, so that journald never stores an entry with a field dropped.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/assert.sh"
zsp_enter_namespace "$@"

zsp_private_system || exit 1
tool=$ZSP_BUILD/journal_send
if [ ! -x "$tool" ]; then
  fail "journal_send: built" "$tool not found; run make first"
  zsp_finish
  exit
fi

# field_check CASE FIELD FILE: compares FIELD of the one entry with
# ZSP_TEST_CASE=CASE to the bytes of FILE. Prints "same" or what differs.
field_check() {
  journalctl --sync 2>/dev/null || sleep 0.3
  # --all: journalctl prints fields over 4096 bytes as null without it.
  journalctl --no-pager --all -o json "ZSP_TEST_CASE=$1" 2>/dev/null |
    python3 -c '
import json, sys
field, path = sys.argv[1], sys.argv[2]
expected = open(path, "rb").read()
entries = [json.loads(line) for line in sys.stdin if line.strip()]
if len(entries) != 1:
    sys.exit(print("%d entries" % len(entries)))
value = entries[0].get(field)
if value is None:
    sys.exit(print("no field " + field))
# journalctl prints a value that is not printable UTF-8 as a byte array.
value = bytes(value) if isinstance(value, list) else value.encode()
if value != expected:
    sys.exit(print("%d bytes, expected %d" % (len(value), len(expected))))
print("same")
' "$2" "$3"
}

# entry_count CASE: the number of entries with ZSP_TEST_CASE=CASE.
entry_count() {
  journalctl --sync 2>/dev/null || sleep 0.3
  journalctl --no-pager -o json "ZSP_TEST_CASE=$1" 2>/dev/null | grep -c .
}

# A value with newlines goes in the binary form of the protocol.
multi=$'first line\nsecond line\n\tindented\n'
printf '%s' "$multi" >"$ZSP_TMP/multi"
run "$tool" "MESSAGE=newline test" ZSP_TEST_CASE=newline \
  "ZSP_MULTI=$multi" SYSLOG_IDENTIFIER=journal_test
expect_status "newline: sent" 0
expect_equal "newline: value read back unchanged" \
  "$(field_check newline ZSP_MULTI "$ZSP_TMP/multi")" same
OUT=$(journalctl --sync; journalctl --no-pager -o json ZSP_TEST_CASE=newline)
expect_output "newline: other fields intact" \
  '"SYSLOG_IDENTIFIER":"journal_test"'
expect_output "newline: message intact" '"MESSAGE":"newline test"'

# Bytes that are not text, without a newline: the plain NAME=value form.
printf 'a\000b\001\377c' >"$ZSP_TMP/binary"
run "$tool" "MESSAGE=binary test" ZSP_TEST_CASE=binary \
  "ZSP_BINARY@$ZSP_TMP/binary"
expect_status "binary: sent" 0
expect_equal "binary: value read back unchanged" \
  "$(field_check binary ZSP_BINARY "$ZSP_TMP/binary")" same

# About 17 MiB, with newlines. The client's send buffer is at most 16 MiB,
# so no kernel takes this entry as one datagram and it must go through
# the memfd.
head -c 13000000 /dev/urandom | base64 -w 76 >"$ZSP_TMP/large"
run strace -f -qq -e trace=memfd_create,sendmsg -o "$ZSP_TMP/large.strace" \
  "$tool" "MESSAGE=large test" ZSP_TEST_CASE=large "ZSP_LARGE@$ZSP_TMP/large"
expect_status "large: sent" 0
OUT=$(cat "$ZSP_TMP/large.strace")
expect_output "large: sent through a memfd" "memfd_create("
expect_output "large: memfd passed to journald" "SCM_RIGHTS"
expect_equal "large: value read back complete" \
  "$(field_check large ZSP_LARGE "$ZSP_TMP/large")" same

# Invalid names: lower case, protected, leading digit, a dash, 65 bytes.
# journald would store the entry without the field, so the client must
# reject the whole entry.
i=0
for name in lower _PRIVATE 9LIVES ZSP-DASH "$(printf 'N%.0s' $(seq 65))"; do
  i=$((i + 1))
  run "$tool" "MESSAGE=invalid name test" "ZSP_TEST_CASE=invalid-$i" \
    "$name=x"
  expect_fail "invalid name $i: rejected"
  expect_output "invalid name $i: reported as invalid" "Invalid argument"
  expect_equal "invalid name $i: nothing stored" "$(entry_count "invalid-$i")" 0
done
# A 64-byte name is the longest that journald accepts.
long=$(printf 'N%.0s' $(seq 64))
run "$tool" "MESSAGE=long name test" ZSP_TEST_CASE=long-name "$long=x"
expect_status "64-byte name: sent" 0
printf 'x' >"$ZSP_TMP/x"
expect_equal "64-byte name: read back" \
  "$(field_check long-name "$long" "$ZSP_TMP/x")" same

# A stopped journald takes no datagram once its socket queue is full
# (net.unix.max_dgram_qlen). The send must then fail with a timeout
# instead of waiting for good; timeout(1) ends a send that blocks.
kill -STOP "$ZSP_JOURNALD_PID"
stalled=""
for i in $(seq 40); do
  run timeout 20 "$tool" "MESSAGE=stalled $i" ZSP_TEST_CASE=stalled
  if [ "$STATUS" != 0 ]; then
    stalled="status $STATUS: $OUT"
    break
  fi
done
kill -CONT "$ZSP_JOURNALD_PID"
expect_equal "stopped journald: send fails with a timeout" \
  "$stalled" "status 1: journal_send: Connection timed out (errno 110)"

# No socket at the path, and a socket that no process receives on.
run "$tool" --socket /run/systemd/journal/missing "MESSAGE=x"
expect_fail "missing socket: fails"
expect_output "missing socket: reports ENOENT" "No such file or directory"
# A socket file whose socket closed at once, when python3 ended.
python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(sys.argv[1])' \
  "$ZSP_TMP/dead.socket"
run "$tool" --socket "$ZSP_TMP/dead.socket" "MESSAGE=x"
expect_fail "socket without receiver: fails"
expect_output "socket without receiver: reports ECONNREFUSED" \
  "Connection refused"

zsp_finish
