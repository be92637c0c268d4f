#!/bin/bash
# The cost of loading each module and its libraries, and of OpenSSL's
# first calls, which every sudo or login through a module pays before the
# module does its own work. Each figure is the median over fresh
# processes, next to the stock policy that zsp replaces, measured in the
# same run. Changes nothing on the machine, so it needs no namespace.
#
# Usage: tests/bench/load.sh [RUNS]   (default 101; build with make bench)
cd "$(dirname "$0")/../.." || exit 1
build=${ZSP_BUILD:-build}
runs=${1:-101}
tool="$build/bench/load_cost"
if [ ! -x "$tool" ]; then
  echo "load: $tool is missing; build it with make bench" >&2
  exit 1
fi

# median_ms [PRELOAD... --] FILE...: the median time of a dlopen of the
# FILEs in turn, after the PRELOADs. Exits when the tool fails.
median_ms() {
  local line
  line=$("$tool" "$runs" dlopen "$@") || exit 1
  printf '%s\n' "${line##*median_ms=}"
}

# libraries PROGRAM: the paths of the shared libraries that PROGRAM has
# loaded before it opens a module, one per line.
libraries() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
}
mapfile -t sudo_libs < <(libraries /usr/bin/sudo)
mapfile -t pam_libs < <(libraries /usr/bin/pamtester)
if [ "${#sudo_libs[@]}" -eq 0 ] || [ "${#pam_libs[@]}" -eq 0 ]; then
  echo "load: ldd listed no libraries for sudo or pamtester" >&2
  exit 1
fi

# row NAME MS BASELINE_MS: one line with the ratio to the baseline.
row() {
  awk -v n="$1" -v a="$2" -v b="$3" \
    'BEGIN { printf "  %-36s %8.3f ms %7.2f\n", n, a, a / b }'
}

sudoers=/usr/libexec/sudo/sudoers.so
pam_dir=/lib/x86_64-linux-gnu/security
for file in "$sudoers" "$build/sudo_zsp.so" "$build/pam_zsp.so" \
  "$pam_dir/pam_permit.so"; do
  [ -f "$file" ] || { echo "load: $file not found" >&2; exit 1; }
done

echo "== Loading, median of $runs fresh processes (ratio to the baseline)"
echo "   after sudo's own libraries (ldd /usr/bin/sudo)"
base=$(median_ms "${sudo_libs[@]}" -- "$sudoers") || exit 1
row "sudoers.so (baseline)" "$base" "$base"
# libcurl.so.4 is what the direct path opens on its first broker call
# (common/https_client.cc); a cached or relayed decision never loads it.
for file in "$build/sudo_zsp.so" libstdc++.so.6 libcrypto.so.3 \
  libsodium.so.23 libsystemd.so.0 libcurl.so.4; do
  ms=$(median_ms "${sudo_libs[@]}" -- "$file") || exit 1
  row "$(basename "$file")" "$ms" "$base"
done
echo "   after pamtester's own libraries (ldd /usr/bin/pamtester)"
pam_base=$(median_ms "${pam_libs[@]}" -- "$pam_dir/pam_permit.so") || exit 1
row "pam_permit.so (baseline)" "$pam_base" "$pam_base"
ms=$(median_ms "${pam_libs[@]}" -- "$build/pam_zsp.so") || exit 1
row "pam_zsp.so" "$ms" "$pam_base"

# crypto_rows LIBRARY MODE: the load of LIBRARY and its first SHA-256 and
# Ed25519 check, in fresh processes.
crypto_rows() {
  local line
  line=$("$tool" "$runs" "$2") || exit 1
  printf '%s\n' "$line" | tr ' ' '\n' | awk -F= -v lib="$1" '
    $1 == "load_ms"    { printf "  %-36s %8.3f ms\n", "dlopen of " lib, $2 }
    $1 == "sha256_ms"  { printf "  %-36s %8.3f ms\n", "first SHA-256, with set-up", $2 }
    $1 == "ed25519_ms" { printf "  %-36s %8.3f ms\n", "first Ed25519 verification", $2 }'
}

echo "== First hash and signature check, median of $runs fresh processes"
echo "   OpenSSL (the broker and zspctl)"
crypto_rows libcrypto.so.3 openssl
echo "   libsodium (the modules)"
crypto_rows libsodium.so.23 sodium
