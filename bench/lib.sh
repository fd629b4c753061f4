#!/usr/bin/env bash
# bench/lib.sh: a private cluster with a generated account, for benchmarks.
#   BENCH_CONTACTS=1000000 bash bench/<name>.sh      (default 100000)
#   PG_MAJOR=18 bash bench/<name>.sh                 (default the packaged major; each major its own cluster)
#   BENCH_REUSE=1: keep the generated cluster even if the build changed
# The cluster is reused between benchmarks of one size (BENCH_DIR), so a
# million contacts are generated once.
source "$(dirname "${BASH_SOURCE[0]}")/../test/scripts/lib.sh"
BENCH_CONTACTS=${BENCH_CONTACTS:-100000}
# one cluster per major and size: PG_MAJOR=18 bash bench/<name>.sh runs on 18
BENCH_DIR=${BENCH_DIR:-/tmp/customercard-bench-$PG_MAJOR-$BENCH_CONTACTS}
BENCH_PORT=${BENCH_PORT:-$((55000 + (BENCH_CONTACTS + PG_MAJOR * 101) % 997))}
export CC_FSYNC=on
# a server for a million contacts gets the usual quarter of the machine's 24 GB
export CC_SHARED_BUFFERS=${CC_SHARED_BUFFERS:-4GB}

bench_cluster() {
    ensure_deps
    build_install
    echo "== on PostgreSQL $($PGBIN/pg_config --version | awk '{print $2}') ($PGBIN)"
    export PGHOST=$BENCH_DIR PGPORT=$BENCH_PORT PGUSER=postgres
    local fp
    fp=$(cat "$ROOT"/customercard--*.sql "$ROOT"/customercard.so "$ROOT/bench/gen/demo_data.sql" | md5sum | cut -c1-32)
    # BENCH_REUSE=1 keeps a generated cluster although the build changed (re-measuring)
    if [ -f "$BENCH_DIR/data/postmaster.pid" ] &&
       { [ "$(cat "$BENCH_DIR/fingerprint" 2>/dev/null)" = "$fp" ] || [ -n "${BENCH_REUSE:-}" ]; } &&
       psql -X -At -d bench -c "SELECT 1" >/dev/null 2>&1; then
        echo "== reusing $BENCH_DIR ($BENCH_CONTACTS contacts, same build)"
        return
    fi
    stop_cluster "$BENCH_DIR"
    start_cluster "$BENCH_DIR" "$BENCH_PORT"
    psql -X -q -d postgres -c "CREATE DATABASE bench"
    psql -X -q -d bench -c "CREATE EXTENSION customercard CASCADE" -f "$ROOT/bench/gen/demo_data.sql"
    echo "== generating $BENCH_CONTACTS contacts"
    local t0=$(date +%s.%N)
    psql -X -q -At -d bench -c "SELECT sum(rows) FROM customercard_demo.generate($BENCH_CONTACTS)" >/dev/null
    psql -X -q -d bench -c "VACUUM ANALYZE"
    echo "   generated in $(echo "$(date +%s.%N) - $t0" | bc) s"
    echo "$fp" | as_root tee "$BENCH_DIR/fingerprint" >/dev/null
}

# public.bench_latency(sql, inputs): runs sql once per input (USING the
# input as $1) after a warm-up of a fifth of them (unless warmup is
# false: calls that change data, e.g. merges); p50 and p95 in ms of each
# call, server side (planning included)
bench_latency_function() {
    psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP FUNCTION IF EXISTS public.bench_latency(text, text[]);
CREATE OR REPLACE FUNCTION public.bench_latency(sql text, inputs text[], warmup boolean DEFAULT true,
                                                OUT p50 float8, OUT p95 float8, OUT calls int)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    d float8[] := '{}';
    x text;
BEGIN
    FOREACH x IN ARRAY CASE WHEN warmup THEN inputs[1:greatest(cardinality(inputs) / 5, 1)] ELSE '{}' END LOOP
        EXECUTE sql USING x;
    END LOOP;
    FOREACH x IN ARRAY inputs LOOP
        t0 := clock_timestamp();
        EXECUTE sql USING x;
        d := d || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v), percentile_cont(0.95) WITHIN GROUP (ORDER BY v), count(*)
      INTO p50, p95, calls FROM unnest(d) v;
END $$;
SQL
}

# pgbench_tps ROLE SCRIPT [SECONDS] [CLIENTS]: transactions per second
pgbench_tps() {
    $PGBIN/pgbench -n -U "$1" -f "$2" -T "${3:-10}" -c "${4:-1}" bench 2>/dev/null \
        | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
ratio() { echo "scale=3; $1 / $2" | bc; }
