#!/usr/bin/env bash
# bulk_undo for real: an undo worked off by CALL bulk_run while
# managers edit the same contacts in other sessions loses nothing (every
# edit stands, every other card gets its old value back, what was edited
# is reported); a runner killed in the middle of an undo and started again
# puts back every contact exactly once.  Prints TAP.  Needs
# PGHOST/PGPORT/PGUSER.
set -euo pipefail
DB=cc_bulk_undo
N=${UNDO_CONTACTS:-6000}
trap 'dropdb --if-exists $DB >/dev/null 2>&1 || true' EXIT
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
q -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
q -c "INSERT INTO customercard.contacts (name, city) SELECT 'Undo ' || i, 'City ' || (i % 7) FROM generate_series(1, $N) i"
q -c "CREATE TABLE public.cities_before AS SELECT contact_id, city FROM customercard.contacts"
q -c "CREATE TABLE public.edits (n serial, contact_id bigint, city text)"
echo "1..7"

# the job: every city set, run off
JOB=$(q -c "SET customercard.actor = 'manager:olga'" -c "SELECT customercard.bulk_enqueue('set_field', '{\"field\": \"city\", \"value\": \"Omsk\"}', filter => '{}')")
q -c "CALL customercard.bulk_run()"

# the undo, worked off in small batches in the background, while managers
# edit cards one transaction at a time, in the undo's path and behind it;
# one of them holds a card of the middle in an open transaction as the
# undo comes by (the undo waits for it, and then leaves the edit alone)
UNDO=$(q -c "SET customercard.actor = 'manager:olga'" -c "SELECT customercard.bulk_undo($JOB)")
held=$(q -c "SELECT contact_id FROM customercard.contacts ORDER BY contact_id OFFSET $((N / 2)) LIMIT 1")
psql -X -q -At -d $DB -c "BEGIN; SET LOCAL customercard.actor = 'manager:5';
                          INSERT INTO public.edits (contact_id, city) VALUES ($held, 'Held edit');
                          UPDATE customercard.contacts SET city = 'Held edit' WHERE contact_id = $held;
                          SELECT pg_sleep(2); COMMIT;" >/dev/null &
holder=$!
sleep 0.3
psql -X -q -At -d $DB -c "CALL customercard.bulk_run('10 minutes', 50)" >/dev/null 2>&1 &
runner=$!
for i in $(seq 1 100); do
    q -c "BEGIN; SET LOCAL customercard.actor = 'manager:5';
          WITH c AS (SELECT contact_id FROM customercard.contacts WHERE contact_id <> $held ORDER BY random() LIMIT 1)
          INSERT INTO public.edits (contact_id, city) SELECT contact_id, 'Edited ' || $i FROM c;
          UPDATE customercard.contacts SET city = e.city FROM public.edits e
           WHERE e.n = (SELECT max(n) FROM public.edits) AND contacts.contact_id = e.contact_id; COMMIT;" >/dev/null
done
wait $holder
wait $runner
state=$(q -c "SELECT status || ' ' || (done + failed = total) FROM customercard.bulk_progress WHERE job = $UNDO")
[ "$state" = "done true" ] && echo "ok 1 - the undo ran to the end while managers made 101 edits" || echo "not ok 1 - undo: $state"

lost=$(q -c "SELECT count(*) FROM (SELECT DISTINCT ON (contact_id) contact_id, city FROM public.edits ORDER BY contact_id, n DESC) e
              JOIN customercard.contacts c USING (contact_id) WHERE c.city IS DISTINCT FROM e.city")
[ "$lost" = 0 ] && echo "ok 2 - every manager's edit stands (none overwritten by the undo)" || echo "not ok 2 - $lost edits lost"

wrong=$(q -c "SELECT count(*) FROM customercard.contacts c JOIN public.cities_before b USING (contact_id)
               WHERE c.contact_id NOT IN (SELECT contact_id FROM public.edits) AND c.city IS DISTINCT FROM b.city")
[ "$wrong" = 0 ] && echo "ok 3 - every card not edited has its old city back" || echo "not ok 3 - $wrong cards without their old city"

bad=$(q -c "SELECT count(*) FROM customercard.bulk_failures f
             WHERE f.job = $UNDO AND (f.contact_id NOT IN (SELECT contact_id FROM public.edits) OR f.reason NOT LIKE 'city changed since by manager:5 at %')")
held_reported=$(q -c "SELECT count(*) FROM customercard.bulk_failures WHERE job = $UNDO AND contact_id = $held")
[ "$bad" = 0 ] && [ "$held_reported" = 1 ] && echo "ok 4 - only edited cards are reported, each as changed since by the manager, the held one too" \
    || echo "not ok 4 - $bad failures of cards not edited or without the reason; the held card reported: $held_reported"

# a runner killed mid-undo, then another: every card put back once
q -c "UPDATE customercard.contacts c SET city = b.city FROM public.cities_before b WHERE b.contact_id = c.contact_id"
JOB2=$(q -c "SET customercard.actor = 'manager:olga'" -c "SELECT customercard.bulk_enqueue('set_field', '{\"field\": \"city\", \"value\": \"Tver\"}', filter => '{}')")
q -c "CALL customercard.bulk_run()"
UNDO2=$(q -c "SET customercard.actor = 'manager:kate'" -c "SELECT customercard.bulk_undo($JOB2)")
psql -X -q -At -d $DB -c "CALL customercard.bulk_run('10 minutes', 20)" >/dev/null 2>&1 &
runner=$!
for i in $(seq 1 1000); do
    d=$(q -c "SELECT done FROM customercard.bulk_progress WHERE job = $UNDO2")
    [ "$d" -ge 100 ] && break
    sleep 0.01
done
killed=$(q -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND query LIKE 'CALL customercard.bulk_run%' AND pid <> pg_backend_pid()")
wait $runner || true
state=$(q -c "SELECT status || ' ' || (done > 0 AND done < total) FROM customercard.bulk_progress WHERE job = $UNDO2")
[ "$killed" = 1 ] && [ "$state" = "running true" ] && echo "ok 5 - the undo's runner was terminated mid-way" \
    || echo "not ok 5 - killed $killed, undo state: $state"
q -c "CALL customercard.bulk_run()"
state=$(q -c "SELECT status || ' ' || done || ' ' || failed FROM customercard.bulk_progress WHERE job = $UNDO2")
wrong=$(q -c "SELECT count(*) FROM customercard.contacts c JOIN public.cities_before b USING (contact_id) WHERE c.city IS DISTINCT FROM b.city")
[ "$state" = "done $N 0" ] && [ "$wrong" = 0 ] && echo "ok 6 - another runner finishes it: every card has its old city" \
    || echo "not ok 6 - undo: $state, $wrong cards without their old city"
events=$(q -c "SELECT count(*) || ' ' || count(DISTINCT contact_id) FROM customercard.action_log
                WHERE actor = 'manager:kate' AND event = 'field_changed' AND details ->> 'field' = 'city'")
[ "$events" = "$N $N" ] && echo "ok 7 - one logged change per card, with the undo's actor: none put back twice" \
    || echo "not ok 7 - events (count, contacts): $events, want $N $N"
