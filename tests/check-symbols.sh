#!/bin/bash
# Checks the built modules and programs for their exported symbols and
# hardening flags: pam_zsp.so exports only pam_sm_* functions and
# sudo_zsp.so only the sudo_zsp_policy struct (a stray export could be
# bound by the host process or another module in its place), neither has
# undefined symbols (`ldd -r`) nor needs libsystemd, libcurl, libssl,
# libcrypto or libstdc++, which every sudo or login would pay to load,
# and every file has a non-executable stack, full RELRO, BIND_NOW,
# position-independent code, no text relocations and stack-protector
# calls. Ends with
# "check-symbols: N passed, N failed".
#
# Usage: tests/check-symbols.sh [BUILD_DIR]   (default: build)
cd "$(dirname "$0")/.." || exit 1
build=${1:-${ZSP_BUILD:-build}}
ZSP_SUITE=check-symbols
. tests/lib/assert.sh

# exported_symbols FILE: the dynamic symbols FILE defines, one a line,
# without version-node names (absolute symbols such as "ZSP_1.0").
exported_symbols() {
  nm -D --defined-only "$1" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' |
    sort -u
}

# check_exports FILE PATTERN REQUIRED...: every export matches the
# extended regular expression PATTERN, and each REQUIRED name is exported.
check_exports() {
  local file=$1 pattern=$2 name extra
  shift 2
  local exports
  exports=$(exported_symbols "$file")
  extra=$(printf '%s\n' "$exports" | grep -vE "$pattern" | grep -v '^$')
  if [ -z "$extra" ]; then
    pass "$(basename "$file"): exports only $pattern"
  else
    OUT=$extra fail "$(basename "$file"): exports only $pattern" \
      "unexpected exports: $(echo "$extra" | tr '\n' ' ')"
  fi
  for name in "$@"; do
    if printf '%s\n' "$exports" | grep -qx "$name"; then
      pass "$(basename "$file"): exports $name"
    else
      fail "$(basename "$file"): exports $name" "symbol missing"
    fi
  done
}

# check_no_undefined FILE: `ldd -r` resolves every symbol of FILE.
check_no_undefined() {
  local out
  out=$(ldd -r "$1" 2>&1)
  if printf '%s\n' "$out" | grep -q 'undefined symbol'; then
    OUT=$out fail "$(basename "$1"): no undefined symbols" "ldd -r lists some"
  else
    pass "$(basename "$1"): no undefined symbols"
  fi
}

# check_no_libsystemd FILE: FILE neither lists libsystemd as NEEDED nor
# imports an sd_* function. The modules send to journald themselves
# (common/journal_socket.cc), so that no sudo or login loads libsystemd
# and the six libraries it needs.
check_no_libsystemd() {
  local base needed imports
  base=$(basename "$1")
  needed=$(readelf -W -d "$1" | grep 'NEEDED' | grep 'libsystemd')
  if [ -z "$needed" ]; then
    pass "$base: does not need libsystemd"
  else
    OUT=$needed fail "$base: does not need libsystemd" "listed as NEEDED"
  fi
  imports=$(nm -D --undefined-only "$1" | awk '$NF ~ /^sd_/ { print $NF }')
  if [ -z "$imports" ]; then
    pass "$base: imports no sd_* function"
  else
    OUT=$imports fail "$base: imports no sd_* function" \
      "imports $(echo "$imports" | tr '\n' ' ')"
  fi
}

# check_hardening FILE: the loader and compiler hardening flags.
check_hardening() {
  local file=$1 base headers dynamic
  base=$(basename "$file")
  headers=$(readelf -W -l "$file" 2>&1)
  dynamic=$(readelf -W -d "$file" 2>&1)

  if readelf -W -h "$file" | grep -qE 'Type:[[:space:]]+DYN'; then
    pass "$base: position independent (ELF type DYN)"
  else
    fail "$base: position independent (ELF type DYN)" "not PIE or PIC"
  fi
  local stack
  stack=$(printf '%s\n' "$headers" | grep GNU_STACK)
  if [ -z "$stack" ]; then
    fail "$base: non-executable stack" "no GNU_STACK header"
  elif printf '%s\n' "$stack" | grep -qE 'RWE'; then
    fail "$base: non-executable stack" "GNU_STACK is RWE"
  else
    pass "$base: non-executable stack"
  fi
  if printf '%s\n' "$headers" | grep -q GNU_RELRO; then
    pass "$base: RELRO"
  else
    fail "$base: RELRO" "no GNU_RELRO header"
  fi
  if printf '%s\n' "$dynamic" | grep -qE '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW'; then
    pass "$base: BIND_NOW"
  else
    fail "$base: BIND_NOW" "no BIND_NOW or NOW flag in the dynamic section"
  fi
  if printf '%s\n' "$dynamic" | grep -q TEXTREL; then
    fail "$base: no text relocations" "TEXTREL present"
  else
    pass "$base: no text relocations"
  fi
  if nm -D --undefined-only "$file" | grep -q '__stack_chk_fail'; then
    pass "$base: stack protector"
  else
    fail "$base: stack protector" "no reference to __stack_chk_fail"
  fi
}

# check_lean_loading FILE LIBRARY...: FILE names none of the LIBRARY
# prefixes as a needed library (readelf's NEEDED entries). libcurl, and
# with it libssl and libcrypto, is opened by dlopen on the first broker
# call (common/https_client.cc), so that a cached or relayed decision
# never loads them. libstdc++ and libgcc are linked in statically
# (Makefile, MODULE_STATIC), because loading the shared libstdc++ cost
# about 0.5 ms.
check_lean_loading() {
  local file=$1 base needed library
  base=$(basename "$file")
  shift
  needed=$(readelf -W -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  for library in "$@"; do
    if printf '%s\n' "$needed" | grep -q "^$library"; then
      OUT=$needed fail "$base: does not link $library" "it is a NEEDED entry"
    else
      pass "$base: does not link $library"
    fi
  done
}

for file in pam_zsp.so sudo_zsp.so zsp-broker zspctl; do
  if [ ! -f "$build/$file" ]; then
    fail "$file: built" "$build/$file not found; run make first"
  fi
done

if [ -f "$build/pam_zsp.so" ]; then
  check_exports "$build/pam_zsp.so" '^pam_sm_[a-z_]+$' \
    pam_sm_acct_mgmt pam_sm_open_session pam_sm_close_session \
    pam_sm_authenticate pam_sm_setcred
  check_no_undefined "$build/pam_zsp.so"
  check_no_libsystemd "$build/pam_zsp.so"
  check_hardening "$build/pam_zsp.so"
  check_lean_loading "$build/pam_zsp.so" libcurl libssl libcrypto libstdc++ \
    libgcc_s
fi
if [ -f "$build/sudo_zsp.so" ]; then
  check_exports "$build/sudo_zsp.so" '^sudo_zsp_policy$' sudo_zsp_policy
  check_no_undefined "$build/sudo_zsp.so"
  check_no_libsystemd "$build/sudo_zsp.so"
  check_hardening "$build/sudo_zsp.so"
  check_lean_loading "$build/sudo_zsp.so" libcurl libssl libcrypto libstdc++ \
    libgcc_s
fi
for file in zsp-broker zspctl; do
  [ -f "$build/$file" ] && check_hardening "$build/$file"
done

zsp_finish
