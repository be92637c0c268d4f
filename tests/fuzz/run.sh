#!/bin/bash
# Runs every libFuzzer target for SECONDS each (default 10) on a copy of
# its seed corpus and prints "fuzz: N passed, N failed". A crash leaves
# its input in build/fuzz/crashes/.
cd "$(dirname "$0")/../.." || exit 1
seconds=${1:-10}
passed=0
failed=0
mkdir -p build/fuzz/crashes
for bin in build/fuzz/*_fuzz; do
  name=$(basename "$bin" _fuzz)
  work=$(mktemp -d /tmp/zsp-fuzz.XXXXXX)
  cp -r "tests/fuzz/corpus/$name/." "$work/" 2>/dev/null
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/crashes/$name-" "$work" \
    >"$work.log" 2>&1; then
    passed=$((passed + 1))
    echo "PASS fuzz: $name ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$work.log" | grep -o '[0-9]*$') runs)"
  else
    failed=$((failed + 1))
    echo "FAIL fuzz: $name"
    tail -30 "$work.log" | sed 's/^/    | /'
  fi
  rm -rf "$work" "$work.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
