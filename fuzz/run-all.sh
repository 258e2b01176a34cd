#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 300) one after the other, on one core, and print libFuzzer's final
# stats for each. Corpora grow in fuzz/corpus/<target> (kept between runs, not committed); a crash input lands in
# fuzz/artifacts/<target>/ and makes this script exit non-zero.
#
#   cargo install cargo-fuzz        # once
#   fuzz/run-all.sh 300             # ~20 min plus one build
#
# The fuzz crate needs nightly features; on a stable-only toolchain RUSTC_BOOTSTRAP=1 unlocks them.
set -euo pipefail
secs="${1:-300}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
status=0
for target in detect_scan api_parse sse_framer audit_parse; do
  mkdir -p "corpus/$target"
  echo "== $target ($(date +%T), ${secs} s)"
  if ! cargo fuzz run "$target" "corpus/$target" -- \
      -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 2>&1 |
      grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))|ERROR|SUMMARY|panicked|Test unit written'; then
    :
  fi
  if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
    echo "!! $target: crash inputs in fuzz/artifacts/$target"
    status=1
  fi
done
exit "$status"
