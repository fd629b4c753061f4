#!/usr/bin/env bash
# run_tests.sh (`make test`): the whole suite — pg_regress, pgTAP, the shell
# tests, fuzz smoke, Citus — once per PostgreSQL major (run_major.sh), and
# one closing line over all of them.  The majors: PG_MAJORS="15 18", or
# every major at hand (the packaged one, those installed, and those whose
# source is in ../shared/postgres, built once into a cache).
# One file only: TESTS='tap/security' make test  (or sql/upsert, shell/dump_restore, citus/coordinator)
source "$(dirname "$0")/lib.sh"
majors=${PG_MAJORS:-$(majors_at_hand)}
echo "== PostgreSQL majors: $majors"
passed=0; failed=0; summary=""
first=1
for m in $majors; do
    echo
    echo "======== PostgreSQL $m"
    log=$(mktemp /tmp/cc_major.XXXXXX)
    set +e
    # lint once (it reads the first major's headers), the rest on every major
    # (and the major upgrade test runs on the last major of the run)
    env -u PGBIN PG_MAJOR="$m" CC_LINT=$first CC_NEWEST_MAJOR="${majors##* }" \
        bash "$ROOT/test/scripts/run_major.sh" 2>&1 | tee "$log"
    set -e
    line=$(grep '^customercard on PostgreSQL' "$log" | tail -1 || true)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
        f=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
        passed=$((passed + p)); failed=$((failed + f))
        summary="$summary\n  $line"
    else
        failed=$((failed + 1))
        summary="$summary\n  PostgreSQL $m: the harness failed before its summary"
    fi
    rm -f "$log"
    first=0
done
echo
echo -e "== per major:$summary"
echo "customercard: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
