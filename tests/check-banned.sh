#!/bin/bash
# Checks that the host-side code (common/, pam_zsp/, sudo_zsp/), which runs
# inside sshd, sudo and su, calls none of the functions that end the host
# process, change its process-wide state or read the invoking user's
# environment: exit, _exit, abort, system, popen, openlog, closelog,
# signal, sigaction, alarm, setitimer, setenv, unsetenv, putenv, getenv,
# secure_getenv, and the unbounded string functions sprintf, vsprintf,
# strcpy, strcat, strtok, atoi, atol. Two views:
#   - source: a call NAME( in the code, with comments stripped;
#   - binary: NAME among the undefined symbols (nm -u) of pam_zsp.so and
#     sudo_zsp.so, which also catches calls that headers inline.
# ALLOWED lists the exceptions with their reasons. Ends with
# "check-banned: N passed, N failed".
#
# Usage: tests/check-banned.sh [BUILD_DIR]   (default: build)
cd "$(dirname "$0")/.." || exit 1
build=${1:-${ZSP_BUILD:-build}}
ZSP_SUITE=check-banned
. tests/lib/assert.sh

banned=(exit _exit _Exit abort quick_exit system popen openlog closelog
  signal sigaction alarm setitimer setenv unsetenv putenv getenv
  secure_getenv sprintf vsprintf strcpy strcat strtok atoi atol)

# FILE:NAME for source calls, and MODULE:NAME for binary imports, that are
# allowed, each with the reason.
declare -A ALLOWED=(
  # libcurl 7.88 opens the file named by SSLKEYLOGFILE (plain getenv) in
  # curl_global_init and appends TLS secrets to it. Inside sudo or su that
  # variable is the invoking user's, so it is removed before the init.
  [common/https_client.cc:unsetenv]="keeps libcurl from writing TLS secrets"
  [sudo_zsp.so:unsetenv]="the call in common/https_client.cc"
  [pam_zsp.so:unsetenv]="the call in common/https_client.cc"
  # While sudo_zsp waits for an approval it passes SIGINT through a handler
  # that records a Ctrl-C and then calls sudo's own, and puts sudo's back
  # when the wait ends. sudo only records SIGINT, so a Ctrl-C during a
  # broker call would otherwise be lost.
  [sudo_zsp/sudo_zsp.cc:sigaction]="watches Ctrl-C during the approval wait and a stop during a broker call"
  [sudo_zsp.so:sigaction]="the call in sudo_zsp/sudo_zsp.cc"
)

# strip_comments FILE: the file with // and /* */ comments and string
# literals blanked, so that words in them are not taken for calls.
strip_comments() {
  sed -E -e 's@"([^"\\]|\\.)*"@""@g' -e 's@//.*$@@' "$1" |
    perl -0777 -pe 's@/\*.*?\*/@@gs'
}

sources=$(ls common/*.cc common/*.h pam_zsp/*.cc sudo_zsp/*.cc 2>/dev/null)
if [ -z "$sources" ]; then
  fail "sources: found" "no host-side sources under common/, pam_zsp/, sudo_zsp/"
fi
stripped=$(mktemp -d /tmp/zsp-banned.XXXXXX)
trap 'rm -rf "$stripped"' EXIT
for file in $sources; do
  mkdir -p "$stripped/$(dirname "$file")"
  strip_comments "$file" >"$stripped/$file"
done

for name in "${banned[@]}"; do
  hits=""
  for file in $sources; do
    # A call is NAME( after anything but a letter, digit, '_', '.', '>' or
    # ':', optionally written std::NAME( or ::NAME(. Signal(, x.exit( and
    # Foo::exit( do not count.
    lines=$(grep -nP "(?<![A-Za-z0-9_.>:])(std::|::)?$name\s*\(" "$stripped/$file" |
      cut -d: -f1)
    [ -z "$lines" ] && continue
    if [ -n "${ALLOWED[$file:$name]:-}" ]; then
      echo "     allowed: $file:$name (${ALLOWED[$file:$name]})"
      continue
    fi
    hits+="$file:$(echo $lines | tr ' ' ',') "
  done
  if [ -z "$hits" ]; then
    pass "source: no call to $name"
  else
    fail "source: no call to $name" "called in $hits"
  fi
done

for module in pam_zsp.so sudo_zsp.so; do
  if [ ! -f "$build/$module" ]; then
    fail "$module: built" "$build/$module not found; run make first"
    continue
  fi
  imports=$(nm -D --undefined-only "$build/$module" | awk '{ print $2 }' |
    sed 's/@.*//')
  for name in "${banned[@]}"; do
    # The fortified variants (__sprintf_chk and so on) count as the call.
    if printf '%s\n' "$imports" | grep -qxE "(__)?$name(_chk)?"; then
      if [ -n "${ALLOWED[$module:$name]:-}" ]; then
        pass "$module: imports $name only as allowed"
      else
        fail "$module: does not import $name" "nm -u lists it"
      fi
    else
      pass "$module: does not import $name"
    fi
  done
done

zsp_finish
