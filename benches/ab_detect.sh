#!/usr/bin/env bash
# A/B two (or more) builds of the detection engine on this noisy VM: runs each bench binary's profiling loop in
# alternating fresh processes and prints each one's median MB/s. Each process reports the best of its `reps`
# repetitions (interference only slows one down; benches/detect.md, round 32), so use reps >= 3. A single run moves
# ±15 % here, and an isolated micro-benchmark did not predict the engine (round 7); the median of per-round ratios
# printed last is the figure to compare.
#
#   cargo bench --bench detect --no-run        # prints the binary: target/release/deps/detect-<hash>
#   cp target/release/deps/detect-<hash> /tmp/detect-old   # ...change, rebuild, copy to /tmp/detect-new
#   benches/ab_detect.sh clean-builtin:2 15 /tmp/detect-old /tmp/detect-new
#
# MODE is HAETAE_BENCH_LOOP (`<clean|dense|web>-<builtin|dict>:reps`, or `file-<builtin|dict>:reps` with
# HAETAE_BENCH_FILE); HAETAE_BENCH_MB (default 10) sets the corpus.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 MODE ROUNDS BINARY..." >&2
    exit 2
fi
mode=$1
rounds=$2
shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for _ in $(seq "$rounds"); do
    i=0
    for bin in "$@"; do
        HAETAE_BENCH_LOOP=$mode HAETAE_BENCH_MB=${HAETAE_BENCH_MB:-10} "$bin" 2>&1 | tail -1 |
            sed -n 's/.*: \([0-9.]*\) MB\/s.*/\1/p' >>"$dir/$i"
        i=$((i + 1))
    done
done
# Each round runs the binaries back to back, so the ratio of a round's numbers cancels most of the load drift
# between rounds: the median of those per-round ratios against the first binary is the steadier comparison.
i=0
for bin in "$@"; do
    if [ "$i" -gt 0 ]; then
        paste "$dir/0" "$dir/$i" | awk '$1 > 0 { print $2 / $1 }' | sort -n |
            awk -v name="$bin" '{ v[NR] = $1 } END { printf "%s: median per-round ratio to the first %.3f (n=%d)\n", name, v[int((NR + 1) / 2)], NR }' >>"$dir/ratios"
    fi
    i=$((i + 1))
done
i=0
for bin in "$@"; do
    sort -n "$dir/$i" | awk -v name="$bin" -v mode="$mode" \
        '{ v[NR] = $1 } END { printf "%s %s: median %.1f MB/s (min %.1f, max %.1f, n=%d)\n", name, mode, v[int((NR + 1) / 2)], v[1], v[NR], NR }'
    i=$((i + 1))
done
if [ -f "$dir/ratios" ]; then cat "$dir/ratios"; fi
