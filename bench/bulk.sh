#!/usr/bin/env bash
# bench/bulk.sh: add_tag to every live contact (BENCH_CONTACTS, default
# 1,000,000) through the queue -- bulk_enqueue with the filter '{}' and
# CALL bulk_run() -- beside one INSERT ... SELECT of the same rows (the
# baseline); both with the log trigger on, each with a fresh tag, in two
# rounds of opposite order.  While the runner works, a second connection
# polls bulk_progress every 0.2 s: the longest wait between two commits of
# progress is printed too.                     targets: <= 1.5x, <= 2 s
# Fairness, in round 2: once the big job is under way, another account
# queues add_tag for its 100 contacts; printed: how long it waited until
# done, and how many of the big job's batches committed meanwhile, beside
# the big job's mean batch time.         target: <= 1 batch of the big job
# Fairness among accounts, last: 300 small jobs of account 1 queued first,
# then one of the other account; printed: how many of account 1's jobs
# (a batch each) finished before it, and the time a job.    target: <= 1
# First, bulk_preview of the same add_tag beside audience_count('{}') (the
# count over the selection it may cost).  Last, bulk_undo of round 1's job
# beside that job's time, and the journal's bytes per changed contact.
#                                                  target: undo <= 1.2x
BENCH_CONTACTS=${BENCH_CONTACTS:-1000000}
source "$(dirname "$0")/lib.sh"
bench_cluster
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }
now() { date +%s.%N; }
q >/dev/null <<'SQL'
CREATE OR REPLACE FUNCTION public.bench_ms(sql text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); r text;
BEGIN EXECUTE sql INTO r; RETURN round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 1); END $$;
SQL

baseline() {  # tag name
    q -c "INSERT INTO customercard.tags (name) VALUES ('$1')" >/dev/null
    local t0=$(now)
    q -c "INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id)
          SELECT c.account_id, c.contact_id, (SELECT tag_id FROM customercard.tags WHERE name = '$1')
            FROM customercard.contacts c
           WHERE c.account_id = customercard.current_account_id() AND c.merged_into IS NULL AND c.deleted_at IS NULL" >/dev/null
    echo "$(now) - $t0" | bc
}

queue() {  # tag name; prints seconds, then the longest gap between progress commits
    local t0 job poller gaps
    t0=$(now)
    job=$(q -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"$1\"}', filter => '{}')")
    ( prev=-1; last=$(now); worst=0
      while :; do
          d=$(q -c "SELECT done || ' ' || status FROM customercard.bulk_progress WHERE job = $job")
          t=$(now)
          if [ "${d% *}" != "$prev" ]; then
              gap=$(echo "$t - $last" | bc); [ "$(echo "$gap > $worst" | bc)" = 1 ] && worst=$gap
              prev=${d% *}; last=$t
          fi
          [ "${d#* }" = done ] && break
          sleep 0.2
      done
      echo "$worst" ) > /tmp/cc_bulk_gap.$$ &
    poller=$!
    q -c "CALL customercard.bulk_run('1 hour')"
    local secs=$(echo "$(now) - $t0" | bc)
    wait $poller
    echo "$secs $(cat /tmp/cc_bulk_gap.$$) $(q -c "SELECT batches || ' ' || total FROM customercard.bulk_jobs WHERE job_id = $job") $job"
    rm -f /tmp/cc_bulk_gap.$$
}

# the second account, 100 contacts
small_acct=$(q -c "SELECT account_id FROM customercard.accounts WHERE name = 'Bench small shop'")
if [ -z "$small_acct" ]; then
    small_acct=$(q -c "SELECT customercard.create_account('Bench small shop')")
    q -c "SET customercard.account_id = $small_acct" \
      -c "INSERT INTO customercard.contacts (name) SELECT 'Small ' || i FROM generate_series(1, 100) i" >/dev/null
fi

# small TAG: once a running job of account 1 has done 50,000, account
# $small_acct queues add_tag for its contacts; prints seconds until done and
# the big job's batches committed meanwhile
small() {
    local big job b0 b1 t0 st
    for i in $(seq 1 1200); do
        big=$(q -c "SELECT job_id FROM customercard.bulk_jobs WHERE account_id = 1 AND status = 'running' AND done >= 50000 LIMIT 1")
        [ -n "$big" ] && break
        sleep 0.1
    done
    [ -n "$big" ] || { echo "- -"; return; }
    t0=$(now)
    job=$(q -c "SET customercard.account_id = $small_acct" -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"$1\"}', filter => '{}')")
    # (counted from when the job is there to be claimed: the batch then under way is the one it may wait for)
    b0=$(q -c "SELECT batches FROM customercard.bulk_jobs WHERE job_id = $big")
    while :; do
        st=$(q -c "SELECT status FROM customercard.bulk_jobs WHERE job_id = $job")
        [ "$st" = done ] && break
        sleep 0.1       # (a psql a poll: more often would slow the big job it measures)
    done
    b1=$(q -c "SELECT batches FROM customercard.bulk_jobs WHERE job_id = $big")
    echo "$(echo "$(now) - $t0" | bc) $((b1 - b0))"
}

echo "== bulk_preview of add_tag over every live contact at $BENCH_CONTACTS contacts, beside audience_count('{}')"
# (the tag 'vip' is on some: the preview counts who has it; three rounds, medians)
# and beside the count a preview cannot do without: the selection's ids, and
# for each whether it has the tag
pv=(); cnt=(); has=()
for r in 1 2 3; do
    pv+=("$(q -c "SELECT public.bench_ms(\$\$SELECT customercard.bulk_preview('add_tag', '{\"tag\": \"vip\"}', filter => '{}')::text\$\$)")")
    cnt+=("$(q -c "SELECT public.bench_ms(\$\$SELECT customercard.audience_count('{}')::text\$\$)")")
    has+=("$(q -c "SELECT public.bench_ms(\$\$SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM customercard.contact_tags t
                   WHERE t.account_id = customercard.current_account_id() AND t.contact_id = x
                     AND t.tag_id = (SELECT tag_id FROM customercard.tags WHERE name = 'vip')))::text
                   FROM customercard.audience_ids('{}') x\$\$)")")
done
med3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
mpv=$(med3 "${pv[@]}"); mcnt=$(med3 "${cnt[@]}"); mhas=$(med3 "${has[@]}")
q -c "SELECT '   ' || (customercard.bulk_preview('add_tag', '{\"tag\": \"vip\"}', filter => '{}') - 'sample')::text"
echo "   bulk_preview $mpv ms; audience_count('{}') $mcnt ms; count of the selection's ids that have the tag $mhas ms"
echo "   bulk_preview / that count: $(ratio "$mpv" "$mhas")x   / audience_count: $(ratio "$mpv" "$mcnt")x"

echo "== add_tag to every live contact at $BENCH_CONTACTS contacts"
stamp=$(date +%s)
b1=$(baseline "bench insert $stamp a")
read -r q1 g1 n1 t1 j1 <<<"$(queue "bench queue $stamp a")"
small "bench small $stamp" > /tmp/cc_bulk_small.$$ &
read -r q2 g2 n2 t2 j2 <<<"$(queue "bench queue $stamp b")"
wait
read -r sw sb < /tmp/cc_bulk_small.$$; rm -f /tmp/cc_bulk_small.$$
b2=$(baseline "bench insert $stamp b")
printf '   round 1: INSERT ... SELECT %6.1f s   queue %6.1f s (%s batches, %s contacts, longest wait for progress %.2f s)\n' "$b1" "$q1" "$n1" "$t1" "$g1"
printf '   round 2: queue %6.1f s (%s batches, longest wait for progress %.2f s)   INSERT ... SELECT %6.1f s\n' "$q2" "$n2" "$g2" "$b2"
echo "   ratio queue / INSERT ... SELECT: $(ratio "$(echo "$q1 + $q2" | bc)" "$(echo "$b1 + $b2" | bc)")x   (target <= 1.5x; progress every <= 2 s)"
printf '   fairness: account %s queued add_tag for 100 contacts in round 2: done after %.2f s, %s batches of the big job committed meanwhile (its mean batch %.2f s; target <= 1 batch)\n' \
       "$small_acct" "$sw" "$sb" "$(echo "$q2 / $n2" | bc -l)"

echo "== bulk_undo of round 1's add_tag (every live contact), beside that job's own time"
t0=$(now)
u1=$(q -c "SELECT customercard.bulk_undo($j1)")
q -c "CALL customercard.bulk_run('1 hour')"
un=$(echo "$(now) - $t0" | bc)
read -r ust ud uf <<<"$(q -F ' ' -c "SELECT status, done, failed FROM customercard.bulk_jobs WHERE job_id = $u1")"
left=$(q -c "SELECT count(*) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
              WHERE ct.account_id = 1 AND t.name = 'bench queue $stamp a'")
read -r jrows jheap <<<"$(q -F ' ' -c "SELECT count(*), sum(pg_column_size(j.*)) FROM customercard.bulk_job_journal j WHERE j.account_id = 1 AND j.job_id = $j1")"
jall=$(q -c "SELECT count(*) FROM customercard.bulk_job_journal")
jidx=$(q -c "SELECT pg_relation_size('customercard.bulk_job_journal_pkey')")
printf '   undo %6.1f s (%s, %s done, %s failed; tags of the job left: %s)   the job %6.1f s\n' "$un" "$ust" "$ud" "$uf" "$left" "$q1"
echo "   ratio undo / job: $(ratio "$un" "$q1")x   (target <= 1.2x)"
printf '   journal per changed contact: %.0f bytes of rows + %.0f bytes of index (%s rows of the job)\n' \
       "$(echo "$jheap / $jrows" | bc -l)" "$(echo "$jidx / $jall" | bc -l)" "$jrows"

echo "== fairness among accounts: 300 jobs of account 1 (add_tag to 100 contacts each) queued first, then one job of account $small_acct"
ids=$(q -c "SELECT array_agg(contact_id ORDER BY contact_id)::text FROM (SELECT contact_id FROM customercard.contacts
             WHERE account_id = 1 AND merged_into IS NULL AND deleted_at IS NULL ORDER BY contact_id LIMIT 100) x")
first=$(q -c "SELECT min(j) FROM (SELECT customercard.bulk_enqueue('add_tag', jsonb_build_object('tag', 'bench many $stamp ' || i), '$ids'::bigint[]) j
                                    FROM generate_series(1, 300) i) x")
job=$(q -c "SET customercard.account_id = $small_acct" -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"bench fair $stamp\"}', filter => '{}')")
t0=$(now)
q -c "CALL customercard.bulk_run('1 hour')"
fr=$(echo "$(now) - $t0" | bc)
waited=$(q -c "SELECT count(*) FROM customercard.bulk_jobs a, customercard.bulk_jobs b
                WHERE b.job_id = $job AND a.account_id = 1 AND a.job_id >= $first AND a.job_id < $job AND a.finished_at < b.finished_at")
printf '   the small job waited for %s batches of account 1 (target <= 1); the 301 jobs took %.1f s, %.1f ms a job\n' \
       "$waited" "$fr" "$(echo "$fr * 1000 / 301" | bc -l)"

# leave the tags as they were for the other benchmarks (their removal is logged too)
q -c "DELETE FROM customercard.contact_tags ct USING customercard.tags t
       WHERE ct.account_id = t.account_id AND ct.tag_id = t.tag_id AND t.name LIKE 'bench % $stamp %'" \
  -c "DELETE FROM customercard.tags t WHERE t.name LIKE 'bench % $stamp %'" >/dev/null
# and no journal of the benchmark's jobs
q -c "DELETE FROM customercard.bulk_job_journal j USING customercard.bulk_jobs b
       WHERE j.account_id = b.account_id AND j.job_id = b.job_id AND (b.params ->> 'tag' LIKE 'bench % $stamp%' OR b.action = 'undo')" >/dev/null
q -c "SET customercard.account_id = $small_acct" \
  -c "DELETE FROM customercard.contact_tags ct USING customercard.tags t
       WHERE ct.account_id = t.account_id AND ct.tag_id = t.tag_id AND t.name LIKE 'bench % $stamp%'" \
  -c "DELETE FROM customercard.tags t WHERE t.name LIKE 'bench % $stamp%'" >/dev/null
