#!/usr/bin/env bash
# bench/bulk.sh: add_tag to every live contact (BENCH_CONTACTS, default
# 1,000,000) through the queue -- bulk_enqueue with the filter '{}' and
# CALL bulk_run() -- beside one INSERT ... SELECT of the same rows (the
# baseline); both with the log trigger on, each with a fresh tag, in two
# rounds of opposite order.  While the runner works, a second connection
# polls bulk_progress every 0.2 s: the longest wait between two commits of
# progress is printed too.                     targets: <= 1.5x, <= 2 s
BENCH_CONTACTS=${BENCH_CONTACTS:-1000000}
source "$(dirname "$0")/lib.sh"
bench_cluster
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }
now() { date +%s.%N; }

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
    echo "$secs $(cat /tmp/cc_bulk_gap.$$) $(q -c "SELECT batches || ' ' || total FROM customercard.bulk_jobs WHERE job_id = $job")"
    rm -f /tmp/cc_bulk_gap.$$
}

echo "== add_tag to every live contact at $BENCH_CONTACTS contacts"
stamp=$(date +%s)
b1=$(baseline "bench insert $stamp a")
read -r q1 g1 n1 t1 <<<"$(queue "bench queue $stamp a")"
read -r q2 g2 n2 t2 <<<"$(queue "bench queue $stamp b")"
b2=$(baseline "bench insert $stamp b")
printf '   round 1: INSERT ... SELECT %6.1f s   queue %6.1f s (%s batches, %s contacts, longest wait for progress %.2f s)\n' "$b1" "$q1" "$n1" "$t1" "$g1"
printf '   round 2: queue %6.1f s (%s batches, longest wait for progress %.2f s)   INSERT ... SELECT %6.1f s\n' "$q2" "$n2" "$g2" "$b2"
echo "   ratio queue / INSERT ... SELECT: $(ratio "$(echo "$q1 + $q2" | bc)" "$(echo "$b1 + $b2" | bc)")x   (target <= 1.5x; progress every <= 2 s)"
# leave the tags as they were for the other benchmarks (their removal is logged too)
q -c "DELETE FROM customercard.contact_tags ct USING customercard.tags t
       WHERE ct.account_id = t.account_id AND ct.tag_id = t.tag_id AND t.name LIKE 'bench % $stamp %'" \
  -c "DELETE FROM customercard.tags t WHERE t.name LIKE 'bench % $stamp %'" >/dev/null
