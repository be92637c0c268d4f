#!/bin/bash
# Checks that the host-side code (common/, pam_zsp/, sudo_zsp/), which runs
# inside sshd, sudo and su, calls none of the functions that end the host
# process, change its process-wide state or read the invoking user's
# environment: exit, _exit, abort, system, popen, openlog, closelog,
# signal, sigaction, alarm, setitimer, setenv, unsetenv, putenv, getenv,
# secure_getenv, and the unbounded string functions sprintf, vsprintf,
# strcpy, strcat, strtok, atoi, atol. Three views:
#   - source: a call NAME( in the code, with comments stripped;
#   - binary: NAME among the undefined symbols (nm -u) of the objects
#     linked into pam_zsp.so and sudo_zsp.so: the module's own object and
#     the members of libzsp.a that the linker took, as its map file
#     (MODULE.so.map) lists them. This also catches calls that headers
#     inline.
#   - runtime: NAME among the imports (nm -D -u) of the whole module that
#     the objects above do not import, so that the static copy of
#     libstdc++ and libgcc makes the call. Only the calls that copy is
#     known to make are allowed (RUNTIME_ALLOWED). A library function that
#     our code starts to use, such as std::filesystem::temp_directory_path
#     (secure_getenv of TMPDIR), would otherwise bring a banned call into
#     the module unseen.
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

# Banned calls that the modules' static copy of libstdc++ and libgcc
# (MODULE_STATIC in the Makefile) makes, with the members that make them in
# GCC 12. The shared libstdc++ makes the same calls in a host process.
declare -A RUNTIME_ALLOWED=(
  [abort]="std::terminate and the unwinder when an exception cannot be handled (eh_terminate.o, vterminate.o, eh_personality.o, unwind-dw2.o, unwind-dw2-fde-dip.o)"
  [sprintf]="the demangler of the verbose terminate handler (cp-demangle.o)"
)

# strip_comments FILE: the file with // and /* */ comments and string
# literals blanked, so that words in them are not taken for calls.
strip_comments() {
  sed -E -e 's@"([^"\\]|\\.)*"@""@g' -e 's@//.*$@@' "$1" |
    perl -0777 -pe 's@/\*.*?\*/@@gs'
}

sources=$(ls common/*.cc common/*.h pam_zsp/*.cc pam_zsp/*.h sudo_zsp/*.cc \
  sudo_zsp/*.h 2>/dev/null)
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

# linked_imports MODULE: sets imports to the undefined symbols of the
# objects linked into build/MODULE.so, one per line. Leaves it empty and
# fails the check when the map file is missing or lacks an object that
# every module links.
linked_imports() {
  local module=$1 map="$build/$1.so.map" members
  imports=""
  if [ ! -f "$map" ]; then
    fail "$module.so: link map found" "$map not found; run make first"
    return
  fi
  members=$(grep -o 'libzsp\.a([^)]*)' "$map" | sed 's/.*(\(.*\))/\1/' |
    sort -u)
  # Every module sends to journald, so a map without journal_socket.o was
  # not read right, and the check below would pass on nothing.
  if ! printf '%s\n' "$members" | grep -qx 'journal_socket.o'; then
    fail "$module.so: link map lists the libzsp.a members" \
      "no journal_socket.o in $map"
    return
  fi
  pass "$module.so: link map lists $(echo "$members" | wc -l) libzsp.a members"
  imports=$({
    nm --undefined-only "$build/$module/$module.o" | awk '{ print $2 }'
    nm --undefined-only "$build/libzsp.a" |
      awk -v list="$(echo $members)" '
        BEGIN { n = split(list, names, " "); for (i = 1; i <= n; i++) want[names[i]] = 1 }
        /^[^ ]+\.o:$/ { member = substr($0, 1, length($0) - 1); next }
        $1 == "U" && (member in want) { print $2 }'
  } | sed 's/@.*//' | sort -u)
}

# runtime_imports MODULE: checks the banned names that build/MODULE.so
# imports and that the objects in $imports do not, so that only its static
# copy of libstdc++ or libgcc can make the call.
runtime_imports() {
  local module=$1 dynamic name
  dynamic=$(nm -D --undefined-only "$build/$module.so" | awk '{ print $2 }' |
    sed 's/@.*//')
  for name in "${banned[@]}"; do
    printf '%s\n' "$dynamic" | grep -qxE "(__)?$name(_chk)?" || continue
    printf '%s\n' "$imports" | grep -qxE "(__)?$name(_chk)?" && continue
    if [ -n "${RUNTIME_ALLOWED[$name]:-}" ]; then
      pass "$module.so: static libstdc++ imports $name only as allowed"
    else
      fail "$module.so: static libstdc++ does not import $name" \
        "nm -D -u lists it but no object of ours does; find the member that calls it with the archive members in $build/$module.so.map"
    fi
  done
}

for module in pam_zsp sudo_zsp; do
  if [ ! -f "$build/$module.so" ]; then
    fail "$module.so: built" "$build/$module.so not found; run make first"
    continue
  fi
  linked_imports "$module"
  [ -z "$imports" ] && continue
  runtime_imports "$module"
  for name in "${banned[@]}"; do
    # The fortified variants (__sprintf_chk and so on) count as the call.
    if printf '%s\n' "$imports" | grep -qxE "(__)?$name(_chk)?"; then
      if [ -n "${ALLOWED[$module.so:$name]:-}" ]; then
        pass "$module.so: imports $name only as allowed"
      else
        fail "$module.so: does not import $name" "nm -u lists it"
      fi
    else
      pass "$module.so: does not import $name"
    fi
  done
done

zsp_finish
