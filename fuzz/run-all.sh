#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 300) one after the other, on one core, and print libFuzzer's final
# stats for each. Corpora grow in fuzz/corpus/<target> (kept between runs, not committed); a crash input lands in
# fuzz/artifacts/<target>/ and makes this script exit non-zero.
#
#   cargo install cargo-fuzz        # once
#   fuzz/run-all.sh 300             # ~35 min plus one build
#
# The fuzz crate needs nightly features; on a stable-only toolchain RUSTC_BOOTSTRAP=1 unlocks them.
set -euo pipefail
secs="${1:-300}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
# journal_replay writes a directory of files per input: on tmpfs it runs ~4x faster (no real fsync).
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
status=0
# A few seeds for journal_replay (first byte = variant, see its doc): a valid header with nothing after it, one
# frame around a real leaf (variant 3: the target adds a valid MAC), a format-1 header, and a raw format-2 magic.
mkdir -p corpus/journal_replay
leaf='{"instance":"gw-1","kind":"request","outcome":"forwarded","request_id":"r-1","seq":0,"time":"2026-11-29T00:00:00.000Z","v":1}'
printf '\001' > corpus/journal_replay/seed-header
{ printf '\003'; printf "\\$(printf '%03o' "${#leaf}")"; printf '%s' "$leaf"; } > corpus/journal_replay/seed-one-frame
printf '\002' > corpus/journal_replay/seed-v1-header
printf '\000HAETAEJ2\000\024fuzz.example/journal' > corpus/journal_replay/seed-raw
for target in detect_scan detect_variants api_parse sse_framer audit_parse journal_replay request_edges; do
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
