#!/usr/bin/env bash
# A file through the queue for real: import_enqueue, a
# runner (CALL customercard.bulk_run) terminated mid-file, a second runner
# that finishes it; every row is imported exactly once (one contact, one
# e-mail, one contact_created log row each) and the report says created for
# every line.  Prints TAP.  Needs PGHOST/PGPORT/PGUSER of a cluster.
set -euo pipefail
DB=cc_import_runner
N=${IMPORT_ROWS:-3000}
W=$(mktemp -d)
trap 'dropdb --if-exists $DB >/dev/null 2>&1; rm -rf $W' EXIT
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
q -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
echo "1..4"

{ echo "name,phone,email,tags"
  for i in $(seq 1 $N); do printf 'Row %d,+7 958 %07d,row%d@example.com,queued\n' $i $i $i; done; } > $W/file.csv
printf "SELECT customercard.import_enqueue(decode('%s', 'base64'), 'csv')" "$(base64 -w0 $W/file.csv)" > $W/enqueue.sql
JOB=$(q -c "SET customercard.actor = 'manager:olga'" -f $W/enqueue.sql)

psql -X -q -At -d $DB -c "CALL customercard.bulk_run('10 minutes', 100)" >/dev/null 2>&1 &
runner=$!
for i in $(seq 1 400); do
    d=$(q -c "SELECT done FROM customercard.bulk_progress WHERE job = $JOB")
    [ "$d" -gt 0 ] && break
    sleep 0.05
done
killed=$(q -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND query LIKE 'CALL customercard.bulk_run%' AND pid <> pg_backend_pid()")
wait $runner || true
state=$(q -c "SELECT status || ' ' || (done > 0 AND done < total) FROM customercard.bulk_progress WHERE job = $JOB")
[ "$killed" = 1 ] && [ "$state" = "running true" ] && echo "ok 1 - the runner was terminated mid-file ($(q -c "SELECT done FROM customercard.bulk_progress WHERE job = $JOB") of $N rows)" \
    || echo "not ok 1 - killed $killed, job state: $state"

q -c "CALL customercard.bulk_run()"
got=$(q -c "SELECT status || ' ' || done || ' ' || failed FROM customercard.bulk_progress WHERE job = $JOB")
[ "$got" = "done $N 0" ] && echo "ok 2 - a second runner finished the file: done $N, failed 0" || echo "not ok 2 - job: $got"
rows=$(q -c "SELECT count(*) || ' ' || count(DISTINCT e.email) FROM customercard.contacts c JOIN customercard.emails e USING (account_id, contact_id)")
logs=$(q -c "SELECT count(*) || ' ' || count(DISTINCT contact_id) FROM customercard.action_log WHERE event = 'contact_created' AND actor = 'manager:olga'")
[ "$rows" = "$N $N" ] && [ "$logs" = "$N $N" ] && echo "ok 3 - every row imported exactly once: $N contacts, one log row each, with the actor who queued it" \
    || echo "not ok 3 - contacts/e-mails: $rows, log rows: $logs"
rep=$(q -c "SELECT string_agg(status || ':' || n, ' ') FROM (SELECT status, count(*) AS n FROM customercard.import_report($JOB) GROUP BY status) x")
[ "$rep" = "created:$N" ] && echo "ok 4 - the report: created for every line" || echo "not ok 4 - report: $rep"
