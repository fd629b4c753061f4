#!/usr/bin/env bash
# bench/create_channel.sh: Leeloo's "create e-mail subscribers" in one step
# -- create_channel with a funnel and tags, one job -- beside the three jobs
# it replaces (create_channel, subscribe, add_tag), on the same contacts
# (BENCH_SELECT with an e-mail, default 20,000, of the bench cluster's
# BENCH_CONTACTS, default 1,000,000), each worked off by CALL bulk_run();
# two rounds in opposite order, each with new connection, funnel and tag
# names (so every round makes its channels anew).  Prints the seconds of
# each and the ratio one job / three jobs.        expected: < 1x
BENCH_CONTACTS=${BENCH_CONTACTS:-1000000}
source "$(dirname "$0")/lib.sh"
bench_cluster
SEL=${BENCH_SELECT:-20000}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }
now() { date +%s.%N; }
q >/dev/null <<SQL
DROP TABLE IF EXISTS public.bench_cc_ids;
CREATE TABLE public.bench_cc_ids AS
SELECT array_agg(contact_id ORDER BY contact_id) AS ids
  FROM (SELECT DISTINCT e.contact_id FROM customercard.emails e
         JOIN customercard.contacts c USING (account_id, contact_id)
        WHERE c.merged_into IS NULL AND c.deleted_at IS NULL
        ORDER BY e.contact_id LIMIT $SEL) x;
SQL
run() {  # action params: queue the job on the selection, work it off, print its seconds
    local t0 job
    t0=$(now)
    job=$(q -c "SELECT customercard.bulk_enqueue('$1', '$2', (SELECT ids FROM public.bench_cc_ids))")
    q -c "CALL customercard.bulk_run('1 hour')"
    [ "$(q -c "SELECT status FROM customercard.bulk_jobs WHERE job_id = $job")" = done ] || { echo "job $job did not finish" >&2; exit 1; }
    echo "$(now) - $t0" | bc
}
one() {  # round name
    q -c "INSERT INTO customercard.funnels (account_id, name) VALUES (1, 'bench one $1')" >/dev/null
    run create_channel "{\"kind\": \"email\", \"connection\": \"bench-one-$1\", \"funnel\": \"bench one $1\", \"tags\": [\"bench-one-$1\"]}"
}
three() {
    local a b c
    q -c "INSERT INTO customercard.funnels (account_id, name) VALUES (1, 'bench three $1')" >/dev/null
    a=$(run create_channel "{\"kind\": \"email\", \"connection\": \"bench-three-$1\"}")
    b=$(run subscribe "{\"funnel\": \"bench three $1\"}")
    c=$(run add_tag "{\"tag\": \"bench-three-$1\"}")
    echo "$a + $b + $c" | bc
}
stamp=$(date +%s)
echo "== create_channel with a funnel and tags (one job) vs create_channel, subscribe, add_tag (three jobs): $(q -c "SELECT cardinality(ids) FROM public.bench_cc_ids") contacts with an e-mail, of $BENCH_CONTACTS"
o1=$(one "${stamp}a"); t1=$(three "${stamp}a")
t2=$(three "${stamp}b"); o2=$(one "${stamp}b")
printf '   round 1: one job %6.2f s   three jobs %6.2f s\n' "$o1" "$t1"
printf '   round 2: three jobs %6.2f s   one job %6.2f s\n' "$t2" "$o2"
echo "   ratio one job / three jobs: $(ratio "$(echo "$o1 + $o2" | bc)" "$(echo "$t1 + $t2" | bc)")x"
echo "   (each new subscriber of the one job is subscribed through its new channel; the subscribe job's periods name no channel)"
