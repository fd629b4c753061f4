#!/usr/bin/env bash
# run_major.sh: the whole suite on one PostgreSQL major (PG_MAJOR; run_tests.sh
# runs it for each major at hand), from a fresh machine to a green run.
# pg_regress (sql/ + expected/), pgTAP (test/tap/*.sql with pg_prove) and
# the shell tests (test/shell/*.sh, TAP, with prove), each against a private
# throwaway cluster with pg_cron preloaded; ends with one summary line.
# the Citus suite (test/citus/*.sh) too when Citus or its tarball is at hand.
# One file only: TESTS='tap/security' make test  (or sql/upsert, shell/dump_restore, citus/coordinator)
source "$(dirname "$0")/lib.sh"
ensure_deps
build_install

DIR=$(mktemp -d /tmp/customercard-test.XXXXXX)
trap 'stop_cluster "$DIR"' EXIT
start_cluster "$DIR" "$(free_port)"
cd "$ROOT"

passed=0; failed=0
# tally FILE: add a prove/pg_prove run's results (tests run minus failed; failed
# subtests plus files that died, planned wrong or ran nothing)
tally() {
    read -r t b <<<"$(awk '
        /^Files=[0-9]+, Tests=/ { sub(/.*Tests=/, ""); sub(/,.*/, ""); tests = $0 }
        /Failed [0-9]+\/[0-9]+ subtests/ { split($2, a, "/"); bad += a[1] }
        /Dubious|Bad plan|No subtests run|Parse errors/ { bad++ }
        END { print tests + 0, bad + 0 }' "$1")"
    passed=$((passed + t)); failed=$((failed + b))
    [ "$t" -ge 0 ] && passed=$((passed - (b < t ? b : t)))
}
want() { [ -z "${TESTS:-}" ] || [[ " $TESTS " == *" $1 "* ]]; }

# 1. pg_regress
regress=""
for f in sql/*.sql; do t=$(basename "$f" .sql); want "sql/$t" && regress="$regress $t"; done
if [ -n "$regress" ]; then
    echo "== pg_regress"
    set +e
    make -s PG_CONFIG=$PGBIN/pg_config installcheck REGRESS="$regress" 2>&1 | tee /tmp/cc_regress.out
    set -e
    # pg_regress prints "name ... ok" up to 15, TAP ("ok 1 - name") from 16 on
    p=$(grep -cE '\.\.\. ok|^ok [0-9]+ ' /tmp/cc_regress.out || true)
    f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' /tmp/cc_regress.out || true)
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" = 0 ] || { [ -f regression.diffs ] && head -200 regression.diffs; }
fi

# 2. pgTAP
tap=""
for f in test/tap/*.sql; do t=$(basename "$f" .sql); want "tap/$t" && tap="$tap $f"; done
if [ -n "$tap" ]; then
    echo "== pgTAP"
    psql -X -q -d postgres -c "CREATE DATABASE cc_tap" >/dev/null
    psql -X -q -d cc_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION customercard CASCADE" -f test/tap/lib/helpers.sql >/dev/null
    set +e
    pg_prove -d cc_tap $tap 2>&1 | tee /tmp/cc_tap.out
    set -e
    tally /tmp/cc_tap.out
fi

# 3. shell tests (TAP)
shell=""
for f in test/shell/*.sh; do [ -e "$f" ] || continue; t=$(basename "$f" .sh); want "shell/$t" && shell="$shell $f"; done
if [ -n "$shell" ]; then
    echo "== shell tests"
    set +e
    prove ${PROVE_FLAGS:-} -e bash $shell 2>&1 | tee /tmp/cc_shell.out
    set -e
    tally /tmp/cc_shell.out
fi

# 4. the Citus suite, whenever Citus is installed or its source tarball is at hand
citus=""
for f in test/citus/*.sh; do [ -e "$f" ] || continue; t=$(basename "$f" .sh); want "citus/$t" && citus="$citus citus/$t"; done
if [ -n "$citus" ]; then
    source "$ROOT/test/scripts/citus.sh"
    if citus_available; then
        set +e
        TESTS="$citus" bash "$ROOT/test/scripts/run_citus_tests.sh" 2>&1 | tee /tmp/cc_citus.out
        set -e
        tally /tmp/cc_citus.out
        grep -q '^Files=' /tmp/cc_citus.out || failed=$((failed + 1))   # the harness itself failed
    else
        echo "== Citus suite SKIPPED: no Citus installed and no source tarball at $CITUS_TARBALL"
        echo "   (set CITUS_TARBALL=/path/to/citus-13.2.2.tar.gz, or install Citus 13.2 for PostgreSQL 15)"
    fi
fi

echo
echo "customercard on PostgreSQL $($PGBIN/pg_config --version | awk '{print $2}') ($PGBIN): $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
