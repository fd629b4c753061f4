#!/usr/bin/env bash
# run_tests.sh (`make test`): from a fresh Debian 12 machine to a green run.
# pg_regress (sql/ + expected/), pgTAP (test/tap/*.sql with pg_prove) and
# the shell tests (test/shell/*.sh, TAP, with prove), each against a private
# throwaway cluster with pg_cron preloaded; ends with one summary line.
# One file only: TESTS='tap/security' make test  (or sql/upsert, shell/dump_restore)
source "$(dirname "$0")/lib.sh"
ensure_deps
build_install

DIR=$(mktemp -d /tmp/customercard-test.XXXXXX)
trap 'stop_cluster "$DIR"' EXIT
start_cluster "$DIR" "$(free_port)"
cd "$ROOT"

passed=0; failed=0
want() { [ -z "${TESTS:-}" ] || [[ " $TESTS " == *" $1 "* ]]; }

# 1. pg_regress
regress=""
for f in sql/*.sql; do t=$(basename "$f" .sql); want "sql/$t" && regress="$regress $t"; done
if [ -n "$regress" ]; then
    echo "== pg_regress"
    set +e
    make -s PG_CONFIG=$PGBIN/pg_config installcheck REGRESS="$regress" 2>&1 | tee /tmp/cc_regress.out
    set -e
    p=$(grep -cE '\.\.\. ok' /tmp/cc_regress.out || true)
    f=$(grep -cE '\.\.\. FAILED' /tmp/cc_regress.out || true)
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" = 0 ] || { [ -f regression.diffs ] && head -200 regression.diffs; }
fi

# 2. pgTAP
tap=""
for f in test/tap/*.sql; do t=$(basename "$f" .sql); want "tap/$t" && tap="$tap $f"; done
if [ -n "$tap" ]; then
    echo "== pgTAP"
    psql -X -q -d postgres -c "CREATE DATABASE cc_tap" >/dev/null
    psql -X -q -d cc_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION customercard" >/dev/null
    set +e
    pg_prove -d cc_tap $tap 2>&1 | tee /tmp/cc_tap.out
    set -e
    tests=$(sed -n 's/.*Tests=\([0-9]*\).*/\1/p' /tmp/cc_tap.out | tail -1)
    bad=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' /tmp/cc_tap.out | awk '{split($2,a,"/"); s+=a[1]} END {print s+0}')
    dubious=$(grep -cE 'Dubious|Bad plan|No subtests run|Parse errors' /tmp/cc_tap.out || true)
    passed=$((passed + ${tests:-0} - bad)); failed=$((failed + bad + dubious))
fi

# 3. shell tests (TAP)
shell=""
for f in test/shell/*.sh; do [ -e "$f" ] || continue; t=$(basename "$f" .sh); want "shell/$t" && shell="$shell $f"; done
if [ -n "$shell" ]; then
    echo "== shell tests"
    set +e
    prove -e bash $shell 2>&1 | tee /tmp/cc_shell.out
    set -e
    tests=$(sed -n 's/.*Tests=\([0-9]*\).*/\1/p' /tmp/cc_shell.out | tail -1)
    bad=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' /tmp/cc_shell.out | awk '{split($2,a,"/"); s+=a[1]} END {print s+0}')
    dubious=$(grep -cE 'Dubious|Bad plan|No subtests run|Parse errors' /tmp/cc_shell.out || true)
    passed=$((passed + ${tests:-0} - bad)); failed=$((failed + bad + dubious))
fi

echo
echo "customercard: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
