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

# median_ms FILE...: the median time of a dlopen of the FILEs in turn.
median_ms() {
  "$tool" "$runs" dlopen "$@" | sed -n 's/.*median_ms=//p'
}

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
base=$(median_ms "$sudoers") || exit 1
row "sudoers.so (baseline)" "$base" "$base"
row "sudo_zsp.so" "$(median_ms "$build/sudo_zsp.so")" "$base"
for library in libstdc++.so.6 libcrypto.so.3 libsystemd.so.0; do
  row "$library alone" "$(median_ms "$library")" "$base"
done
# PAM programs have libpam loaded already, so it is opened first on both
# sides and the baseline is pam_permit.
pam_base=$(median_ms libpam.so.0 "$pam_dir/pam_permit.so") || exit 1
row "libpam + pam_permit.so (baseline)" "$pam_base" "$pam_base"
row "libpam + pam_zsp.so" \
  "$(median_ms libpam.so.0 "$build/pam_zsp.so")" "$pam_base"

echo "== OpenSSL's first calls, median of $runs fresh processes"
"$tool" "$runs" openssl | tr ' ' '\n' | awk -F= '
  $1 == "load_ms"    { printf "  %-36s %8.3f ms\n", "dlopen of libcrypto.so.3", $2 }
  $1 == "sha256_ms"  { printf "  %-36s %8.3f ms\n", "first SHA-256, with set-up", $2 }
  $1 == "ed25519_ms" { printf "  %-36s %8.3f ms\n", "first Ed25519 verification", $2 }'
