#!/bin/bash
# Instructions of the detection engine's first scan of 1 MB of the clean and the dense bench corpus (builtin
# detectors), under callgrind: deterministic, so it separates changes of a few per cent on a noisy machine.
# Usage: benches/callgrind_detect.sh BENCH_BINARY TAG
#   BENCH_BINARY: `cargo bench --bench detect --no-run`, then the newest target/release/deps/detect-<hash> (not .d)
#   writes /tmp/cg-TAG-clean.out and /tmp/cg-TAG-dense.out (`callgrind_annotate` them; `--inclusive=yes` for totals
#   per call tree). Needs valgrind (`apt-get install valgrind`).
set -eu
BIN=$1
TAG=$2
for c in clean dense; do
  HAETAE_BENCH_LOOP=$c-builtin:1 HAETAE_BENCH_MB=1 nice -n 5 valgrind --tool=callgrind \
    --toggle-collect='*Engine::scan_segment*' --callgrind-out-file="/tmp/cg-$TAG-$c.out" "$BIN" 2>/dev/null | grep findings
  callgrind_annotate "/tmp/cg-$TAG-$c.out" 2>/dev/null | grep -m1 "PROGRAM TOTALS"
done
