#!/usr/bin/env bash
# The bulk runner for real: CALL customercard.bulk_run() commits
# batch by batch, so a second connection sees progress while it works; a
# runner terminated mid-job and started again ends with every contact done
# exactly once (and one log row each); the actor is back after the run; a
# job due later waits, a cancelled one stops; an operator planted in public
# is not the runner's; pg_cron registration in the
# cron database.  Prints TAP.  Needs PGHOST/PGPORT/PGUSER of a cluster whose
# pg_cron database is cc_cron (test/scripts/lib.sh makes it so).
set -euo pipefail
DB=cc_bulk_runner
N=${BULK_CONTACTS:-30000}
trap 'dropdb --if-exists $DB >/dev/null 2>&1; psql -X -q -d cc_cron -c "SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname LIKE '"'"'customercard-%'"'"'" >/dev/null 2>&1 || true' EXIT
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
q -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
q -c "INSERT INTO customercard.contacts (name) SELECT 'Runner ' || i FROM generate_series(1, $N) i"
echo "1..16"

JOB=$(q -c "SET customercard.actor = 'manager:olga'" -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"autumn\"}', filter => '{}')")
# a runner with small batches, in the background
psql -X -q -At -d $DB -c "CALL customercard.bulk_run('10 minutes', 300)" >/dev/null 2>&1 &
runner=$!
seen=()
for i in $(seq 1 200); do
    d=$(q -c "SELECT done FROM customercard.bulk_progress WHERE job = $JOB")
    if [ "$d" -gt 0 ] && [ "$d" -lt "$N" ]; then
        if [ ${#seen[@]} -eq 0 ] || [ "${seen[-1]}" != "$d" ]; then seen+=("$d"); fi
    fi
    [ ${#seen[@]} -ge 3 ] && break
    sleep 0.05
done
[ ${#seen[@]} -ge 3 ] && echo "ok 1 - a second connection sees progress grow while the runner works (${seen[*]} of $N)" \
    || echo "not ok 1 - progress seen: ${seen[*]:-none}"

# kill the runner in the middle of the job
killed=$(q -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND query LIKE 'CALL customercard.bulk_run%' AND pid <> pg_backend_pid()")
wait $runner || true
state=$(q -c "SELECT status || ' ' || (done > 0 AND done < total) FROM customercard.bulk_progress WHERE job = $JOB")
[ "$killed" = 1 ] && [ "$state" = "running true" ] && echo "ok 2 - the runner was terminated mid-job" \
    || echo "not ok 2 - killed $killed, job state: $state"

# a new runner takes the job over (the dead runner's lock died with it) and finishes it
out=$(psql -X -q -At -d $DB -c "CALL customercard.bulk_run()" -c "SELECT coalesce(current_setting('customercard.actor', true), '')")
got=$(q -c "SELECT status || ' ' || done || ' ' || failed FROM customercard.bulk_progress WHERE job = $JOB")
[ "$got" = "done $N 0" ] && echo "ok 3 - a second runner finished the job: done $N, failed 0" || echo "not ok 3 - job: $got"
tags=$(q -c "SELECT count(*) || ' ' || count(DISTINCT contact_id) FROM customercard.contact_tags")
logs=$(q -c "SELECT count(*) || ' ' || count(DISTINCT contact_id) FROM customercard.action_log WHERE event = 'tag_added' AND actor = 'manager:olga'")
[ "$tags" = "$N $N" ] && [ "$logs" = "$N $N" ] && echo "ok 4 - every contact tagged exactly once, one log row each, with the job's actor" \
    || echo "not ok 4 - tags: $tags, log rows: $logs"
[ -z "$out" ] && echo "ok 5 - the runner's session has its own actor setting back after the run" || echo "not ok 5 - actor after the run: '$out'"

# a job due later waits; a cancelled one never runs
LATER=$(q -c "SELECT customercard.bulk_enqueue('archive', filter => '{}', run_at => now() + interval '1 hour')")
q -c "CALL customercard.bulk_run()"
got=$(q -c "SELECT (SELECT status FROM customercard.bulk_progress WHERE job = $LATER) || ' ' || (SELECT count(*) FROM customercard.contacts WHERE status = 'archived')")
[ "$got" = "queued 0" ] && echo "ok 6 - a job due in an hour is not run now" || echo "not ok 6 - $got"
q -c "UPDATE customercard.bulk_jobs SET run_at = now() WHERE job_id = $LATER" -c "SELECT customercard.bulk_cancel($LATER)" >/dev/null
q -c "CALL customercard.bulk_run()"
got=$(q -c "SELECT (SELECT status FROM customercard.bulk_progress WHERE job = $LATER) || ' ' || (SELECT count(*) FROM customercard.contacts WHERE status = 'archived')")
[ "$got" = "cancelled 0" ] && echo "ok 7 - a cancelled job never runs" || echo "not ok 7 - $got"

# cancel while running: the runner stops at the next batch
STOP=$(q -c "SELECT customercard.bulk_enqueue('remove_tag', '{\"tag\": \"autumn\"}', filter => '{}')")
psql -X -q -At -d $DB -c "CALL customercard.bulk_run('10 minutes', 25)" >/dev/null 2>&1 &
runner=$!
for i in $(seq 1 200); do
    [ "$(q -c "SELECT done > 0 FROM customercard.bulk_progress WHERE job = $STOP")" = t ] && break
    sleep 0.05
done
q -c "SELECT customercard.bulk_cancel($STOP)" >/dev/null
wait $runner || true
got=$(q -c "SELECT status, done < total, (SELECT count(*) FROM customercard.contact_tags) > 0 FROM customercard.bulk_progress WHERE job = $STOP")
[ "$got" = "cancelled|t|t" ] && echo "ok 8 - cancelled while running: the runner stopped part way" || echo "not ok 8 - $got"

# max_runtime: the runner stops between batches once it is spent, and the
# next call goes on where it stopped (30,000 contacts one a batch, each
# batch its own commit, take far more than the second it is given)
RUNTIME=$(q -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"winter\"}', filter => '{}')")
winter() { q -c "SELECT count(*) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id) WHERE t.name = 'winter'"; }
q -c "CALL customercard.bulk_run('1 second', 1)"
first=$(q -c "SELECT status, done > 0 AND done < total, failed FROM customercard.bulk_progress WHERE job = $RUNTIME")
d1=$(q -c "SELECT done FROM customercard.bulk_progress WHERE job = $RUNTIME")
[ "$first|$(winter)" = "running|t|0|$d1" ] && echo "ok 9 - bulk_run('1 second') stopped between batches with the job running ($d1 of $N done and tagged)" \
    || echo "not ok 9 - after the first call: $first|$(winter)"
q -c "CALL customercard.bulk_run('1 second', 1)"
d2=$(q -c "SELECT done FROM customercard.bulk_progress WHERE job = $RUNTIME")
w=$(winter)
[ "$d2" -gt "$d1" ] && [ "$w" = "$d2" ] && echo "ok 10 - the next call went on where it stopped ($d1 -> $d2, each contact tagged once)" \
    || echo "not ok 10 - done $d1 -> $d2, tagged $w"

# pg_cron set-up errors say what to do
err() { psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" -c "$2" 2>&1 | sed -n 's/^ERROR: *[0-9A-Z]*: //p; s/^HINT: *//p' | paste -sd'|' || true; }
got=$(err $DB "SELECT customercard.schedule_bulk_runner()")
[[ "$got" == 'pg_cron lives in database "cc_cron", not in "'$DB'"|In database cc_cron '*"cron.schedule_in_database('customercard-bulk-runner-$DB'"* ]] \
    && echo "ok 11 - outside the cron database: where pg_cron lives, and the commands to run there" || echo "not ok 11 - $got"
psql -X -q -d cc_cron -c "CREATE EXTENSION IF NOT EXISTS customercard CASCADE" >/dev/null 2>&1
psql -X -q -d cc_cron -c "DROP EXTENSION pg_cron" >/dev/null
got=$(err cc_cron "SELECT customercard.schedule_bulk_runner()")
psql -X -q -d cc_cron -c "CREATE EXTENSION pg_cron" >/dev/null
[ "$got" = 'extension "pg_cron" is not created in database "cc_cron"|Run CREATE EXTENSION pg_cron; here (as a superuser), then SELECT customercard.schedule_bulk_runner(); again.' ] \
    && echo "ok 12 - in the cron database before CREATE EXTENSION pg_cron: says so, and the command" || echo "not ok 12 - $got"

# pg_cron: registered in the cron database, every minute
psql -X -q -At -d cc_cron -c "SELECT customercard.schedule_bulk_runner()" >/dev/null
got=$(psql -X -q -At -d cc_cron -c "SELECT schedule || ' ' || command || ' ' || database FROM cron.job WHERE jobname = 'customercard-bulk-runner-cc_cron'")
[ "$got" = "* * * * * CALL customercard.bulk_run() cc_cron" ] && echo "ok 13 - schedule_bulk_runner registers CALL customercard.bulk_run() every minute" \
    || echo "not ok 13 - cron.job: '$got'"
psql -X -q -d cc_cron -c "DROP EXTENSION customercard; DROP EXTENSION pg_trgm" >/dev/null 2>&1 || true

# an operator planted in a schema on the path is not the runner's: bulk_run
# commits, so it cannot pin search_path, and names pg_catalog's operators
q -c "CREATE FUNCTION public.cc_planted(integer, double precision) RETURNS double precision LANGUAGE plpgsql AS
      \$\$ BEGIN RAISE EXCEPTION 'the planted operator ran as %', current_user; END \$\$" \
  -c "CREATE OPERATOR public.* (LEFTARG = integer, RIGHTARG = double precision, FUNCTION = public.cc_planted)" \
  -c "CREATE FUNCTION public.least(double precision, double precision) RETURNS double precision LANGUAGE sql AS 'SELECT 1e9::float8'"
PLANTED=$(q -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"planted\"}', filter => '{}')")
out=$(psql -X -q -At -d $DB -c "CALL customercard.bulk_run('3 seconds')" 2>&1 || true)
pd=$(q -c "SELECT done FROM customercard.bulk_progress WHERE job = $PLANTED")
q -c "DROP OPERATOR public.* (integer, double precision)" -c "DROP FUNCTION public.cc_planted(integer, double precision)" -c "DROP FUNCTION public.least(double precision, double precision)"
[ -z "$out" ] && [ "$pd" -gt 0 ] && echo "ok 14 - an operator planted in public does not run inside bulk_run (the adaptive batch size is pg_catalog's arithmetic; $pd done)" \
    || echo "not ok 14 - output '$out', done $pd"

# a job whose batches fail does not stop the others: it is retried, then
# failed with its error, and the runner goes on (a merge cycle, made here by
# the owner, as no manager can write merged_into)
q -c "UPDATE customercard.bulk_jobs SET status = 'cancelled' WHERE status IN ('queued', 'running')"
B=$(q -c "SELECT customercard.create_account('Shop B')")
q -c "SET customercard.account_id = $B" -c "INSERT INTO customercard.contacts (name) SELECT 'B ' || i FROM generate_series(1, 100) i"
read c1 c2 <<<"$(q -c "SELECT min(contact_id) || ' ' || max(contact_id) FROM (SELECT contact_id FROM customercard.contacts WHERE account_id = 1 ORDER BY contact_id LIMIT 2) x")"
POISON=$(q -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"poison\"}', ARRAY[$c1, $c2])")
q -c "UPDATE customercard.contacts SET merged_into = CASE contact_id WHEN $c1 THEN $c2 ELSE $c1 END WHERE contact_id IN ($c1, $c2)"
FINE=$(q -c "SET customercard.account_id = $B" -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"fine\"}', filter => '{}')")
out=$(psql -X -q -At -d $DB -c "CALL customercard.bulk_run('20 seconds', 50)" 2>&1 || true)
got=$(q -c "SELECT string_agg(status || ' ' || attempts || ' ' || coalesce(error LIKE '%merge chain%', false), '|' ORDER BY job_id) FROM customercard.bulk_jobs WHERE job_id IN ($POISON, $FINE)")
fine=$(q -c "SET customercard.account_id = $B" -c "SELECT done FROM customercard.bulk_progress WHERE job = $FINE")
q -c "UPDATE customercard.contacts SET merged_into = NULL WHERE contact_id IN ($c1, $c2)"
[ -z "$out" ] && [ "$got" = "failed 3 true|done 0 false" ] && [ "$fine" = 100 ] \
    && echo "ok 15 - a job whose batches fail is retried 3 times, then failed with its error; the runner went on and finished the other account's job" \
    || echo "not ok 15 - output '$out', jobs '$got', done $fine"

# jobs of two accounts take turns batch by batch: a small job queued while a
# big one runs waits at most one of the big job's batches
BIG=$(q -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"big\"}', filter => '{}')")
psql -X -q -At -d $DB -c "CALL customercard.bulk_run('60 seconds', 500)" >/dev/null 2>&1 &
runner=$!
for i in $(seq 1 100); do [ "$(q -c "SELECT batches FROM customercard.bulk_jobs WHERE job_id = $BIG")" -ge 2 ] && break; sleep 0.05; done
# (the small job's id and, from the same session once its enqueue has
# committed, the time it became visible to the runner's claims: its
# created_at is its transaction's start, and on a loaded machine the big
# job's runner commits more than one batch while that transaction runs)
{ read -r SMALL; read -r SEEN; } < <(q -c "SET customercard.account_id = $B" \
    -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"small\"}', filter => '{}')" -c "SELECT clock_timestamp()")
for i in $(seq 1 1500); do sdone=$(q -c "SELECT done FROM customercard.bulk_jobs WHERE job_id = $SMALL"); [ "$sdone" = 100 ] && break; sleep 0.02; done
kill $runner 2>/dev/null || true; q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CALL customercard.bulk_run%'" >/dev/null; wait $runner 2>/dev/null || true
# the big job's batches (each its own transaction, one log time: its start,
# before its claim) begun after the small job was visible and before its batch
between=$(q -c "SELECT count(DISTINCT l.at) FROM customercard.action_log l
                 WHERE l.event = 'tag_added' AND l.details ->> 'tag' = 'big'
                   AND l.at > '$SEEN'
                   AND l.at < (SELECT min(s.at) FROM customercard.action_log s WHERE s.event = 'tag_added' AND s.details ->> 'tag' = 'small')")
[ "$sdone" = 100 ] && [ "$between" -le 1 ] && echo "ok 16 - a small job of another account queued while a big one runs is done within one batch of it ($between)" \
    || echo "not ok 16 - the small job did $sdone of 100; the big job ran $between batches between the small one's queueing and its batch"
