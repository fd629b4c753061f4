#!/usr/bin/env bash
# bench/majors.sh: the headline benchmarks on each PostgreSQL major, one
# after the other in one sitting on this machine, so their figures can be
# set side by side (docs/performance.md):
#   BENCH_MAJORS="15 18" BENCH_CONTACTS=100000 bash bench/majors.sh
# Each benchmark runs on its major's own cluster (bench/lib.sh); its whole
# output is kept in BENCH_OUT (default /tmp/customercard-bench-majors), and
# the lines with its ratios and percentiles are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${BENCH_OUT:-/tmp/customercard-bench-majors}
mkdir -p "$OUT"
BENCHES=${BENCHES:-audience action_log bulk phone merge}
for m in ${BENCH_MAJORS:-15 18}; do
    for b in $BENCHES; do
        echo "== PostgreSQL $m: bench/$b.sh"
        env -u PGBIN PG_MAJOR="$m" bash "bench/$b.sh" > "$OUT/$m-$b.log" 2>&1 || echo "   (bench/$b.sh failed: $OUT/$m-$b.log)"
    done
done
for b in $BENCHES; do
    for m in ${BENCH_MAJORS:-15 18}; do
        echo "== bench/$b.sh on PostgreSQL $m"
        grep -E 'x |x$|p50|p95|ratio|/s|ms' "$OUT/$m-$b.log" | grep -v '^psql' | head -30 || true
    done
done
