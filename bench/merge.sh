#!/usr/bin/env bash
# bench/merge.sh: duplicates and merging at a million contacts
# (BENCH_CONTACTS, default 1,000,000).
#   - duplicate_groups() over the whole account, beside a plain self-join
#     on normalized phone alone (the baseline), interleaved, medians of
#     BENCH_ROUNDS (default 5) after a warm-up of each        target <= 3x
#   - merge of two contacts with 1,000 related rows each (20 phones, 20
#     e-mails, 50 tags, 20 custom values, 20 subscriptions, 100 orders with
#     a payment each, 100 tasks, calls, comments, page visits, clicks and
#     e-mails sent, 50 webinar visits, 20 channels; a quarter to half of the
#     tags, fields, funnels, phones and e-mails collide), BENCH_PAIRS pairs
#     (default 30), p50/p95, after 5 pairs merged as a warm-up (a session's
#     first merges plan their statements)                     target < 50 ms
#   - unmerge of the same merges, p50/p95
BENCH_CONTACTS=${BENCH_CONTACTS:-1000000}
source "$(dirname "$0")/lib.sh"
bench_cluster
ROUNDS=${BENCH_ROUNDS:-5}
PAIRS=${BENCH_PAIRS:-30}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }
bench_latency_function

echo "== duplicate_groups() at $BENCH_CONTACTS contacts"
ms() {  # ms SQL: server-side milliseconds of one run
    q -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); n bigint; BEGIN
            EXECUTE \$q\$ $1 \$q\$ INTO n;
            RAISE NOTICE 'ms=%', round(extract(epoch FROM clock_timestamp() - t0) * 1000); END \$\$" 2>&1 \
        | sed -n 's/.*ms=\([0-9]*\).*/\1/p'
}
DUPGROUPS='SELECT count(*) FROM customercard.duplicate_groups()'
SELFJOIN='SELECT count(*) FROM customercard.phones p1 JOIN customercard.phones p2
            ON p2.account_id = p1.account_id AND p2.phone OPERATOR(customercard.=) p1.phone AND p2.contact_id > p1.contact_id
         WHERE p1.account_id = customercard.current_account_id()'
ms "$DUPGROUPS" >/dev/null; ms "$SELFJOIN" >/dev/null          # warm-up
g=(); s=()
for r in $(seq 1 "$ROUNDS"); do g+=("$(ms "$DUPGROUPS")"); s+=("$(ms "$SELFJOIN")"); done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
gm=$(median "${g[@]}"); sm=$(median "${s[@]}")
q -c "SELECT '   ' || count(*) || ' groups, ' || sum(cardinality(contact_ids)) || ' contacts in them, the largest ' || max(cardinality(contact_ids))
        FROM customercard.duplicate_groups()"
printf '   duplicate_groups()                  median %6s ms   (rounds: %s)\n' "$gm" "${g[*]}"
printf '   self-join on phone (baseline)       median %6s ms   (rounds: %s)\n' "$sm" "${s[*]}"
echo "   ratio duplicate_groups / self-join: $(ratio "$gm" "$sm")x   (target <= 3x)"

echo "== merge of two contacts with 1,000 related rows each, $PAIRS pairs"
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE OR REPLACE FUNCTION public.bench_rich_pair(i integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    c bigint;
    side integer := 0;
    o bigint;
BEGIN
    INSERT INTO customercard.tags (name) SELECT 'mb tag ' || g FROM generate_series(1, 75) g ON CONFLICT DO NOTHING;
    INSERT INTO customercard.custom_fields (name) SELECT 'mb field ' || g FROM generate_series(1, 30) g ON CONFLICT DO NOTHING;
    INSERT INTO customercard.funnels (name) SELECT 'mb funnel ' || g FROM generate_series(1, 30) g ON CONFLICT DO NOTHING;
    WITH n AS (INSERT INTO customercard.contacts (name) VALUES ('Merge bench ' || i), ('Merge bench ' || i || ' dup')
               RETURNING contact_id)
    SELECT array_agg(contact_id ORDER BY contact_id) INTO ids FROM n;
    FOREACH c IN ARRAY ids LOOP
        -- phones and e-mails: the first 5 the same on both
        INSERT INTO customercard.phones (contact_id, phone, raw)
        SELECT c, p, p FROM generate_series(1, 20) g,
               LATERAL (SELECT '+7 958 ' || lpad((i * 1000 + CASE WHEN g <= 5 THEN g ELSE side * 100 + g END)::text, 7, '0') AS p) x;
        INSERT INTO customercard.emails (contact_id, email, raw)
        SELECT c, e, e FROM generate_series(1, 20) g,
               LATERAL (SELECT 'mb' || i || '.' || CASE WHEN g <= 5 THEN g::text ELSE side || '.' || g END || '@bench.example' AS e) x;
        -- tags, custom fields, funnels: overlapping ranges
        INSERT INTO customercard.contact_tags (contact_id, tag_id)
        SELECT c, t.tag_id FROM customercard.tags t WHERE t.account_id = customercard.current_account_id()
           AND t.name IN (SELECT 'mb tag ' || g FROM generate_series(1 + side * 25, 50 + side * 25) g);
        INSERT INTO customercard.custom_values (contact_id, field_id, value)
        SELECT c, f.field_id, 'value ' || side FROM customercard.custom_fields f WHERE f.account_id = customercard.current_account_id()
           AND f.name IN (SELECT 'mb field ' || g FROM generate_series(1 + side * 10, 20 + side * 10) g);
        INSERT INTO customercard.subscriptions (contact_id, funnel_id, subscribed_at)
        SELECT c, f.funnel_id, now() - side * interval '1 day' FROM customercard.funnels f WHERE f.account_id = customercard.current_account_id()
           AND f.name IN (SELECT 'mb funnel ' || g FROM generate_series(1 + side * 10, 20 + side * 10) g);
        INSERT INTO customercard.channels (contact_id, kind, connection, external_id)
        SELECT c, 'telegram', 'bench_bot', 'mb-' || c || '-' || g FROM generate_series(1, 20) g;
        FOR g IN 1 .. 100 LOOP
            INSERT INTO customercard.orders (contact_id, number, offer, amount, status)
            VALUES (c, 'MB-' || c || '-' || g, 'Merge bench offer', 100, 'paid') RETURNING order_id INTO o;
            INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (o, c, 100, 'succeeded');
        END LOOP;
        INSERT INTO customercard.tasks (contact_id, title) SELECT c, 'Task ' || g FROM generate_series(1, 100) g;
        INSERT INTO customercard.calls (contact_id, started_at, result) SELECT c, now(), 'answered' FROM generate_series(1, 100) g;
        INSERT INTO customercard.comments (contact_id, body) SELECT c, 'Comment ' || g FROM generate_series(1, 100) g;
        INSERT INTO customercard.page_visits (contact_id, url) SELECT c, 'https://bench.example/' || g FROM generate_series(1, 100) g;
        INSERT INTO customercard.clicks (contact_id, url) SELECT c, 'https://bench.example/l' || g FROM generate_series(1, 100) g;
        INSERT INTO customercard.emails_sent (contact_id, kind, subject) SELECT c, 'instant', 'Letter ' || g FROM generate_series(1, 100) g;
        INSERT INTO customercard.webinar_visits (contact_id, webinar, joined_at) SELECT c, 'Webinar ' || g, now() FROM generate_series(1, 50) g;
        side := side + 1;
    END LOOP;
    RETURN ids[1] || ',' || ids[2];
END $$;
DROP TABLE IF EXISTS public.bench_pairs;
CREATE TABLE public.bench_pairs (pair text, merge_id bigint);
SQL
q -c "INSERT INTO public.bench_pairs (pair) SELECT public.bench_rich_pair(i) FROM generate_series(1, $PAIRS + 5) i" >/dev/null
q -c "ANALYZE"
q -c "SELECT '   rows per contact: ' || min(n) || '..' || max(n) || ', and ' || min(l) || '..' || max(l) || ' log rows'
        FROM (SELECT sum(p.survivor_value::bigint) FILTER (WHERE p.field LIKE 'count:%' AND p.field <> 'count:action_log') AS n,
                     sum(p.survivor_value::bigint) FILTER (WHERE p.field = 'count:action_log') AS l
                FROM public.bench_pairs b,
                     customercard.merge_preview(split_part(b.pair, ',', 1)::bigint, split_part(b.pair, ',', 2)::bigint) p
               GROUP BY b.pair) x"
latency() {  # label sql kind
    local r
    r=$(q -c "SELECT count(*) FROM (SELECT public.bench_latency(\$q\$$2\$q\$, ARRAY(SELECT $3 FROM public.bench_pairs ORDER BY pair LIMIT 5), false)) w" \
          -c "SELECT round(p50::numeric, 2) || ' ' || round(p95::numeric, 2) || ' ' || calls
                FROM public.bench_latency(\$q\$$2\$q\$, ARRAY(SELECT $3 FROM public.bench_pairs ORDER BY pair OFFSET 5), false)" | tail -1)
    set -- "$1" $r
    printf '   %-34s p50 %8s ms   p95 %8s ms   (%s calls)\n' "$1" "$2" "$3" "$4"
}
latency "merge(survivor, absorbed)" \
    'UPDATE public.bench_pairs SET merge_id = customercard.merge(split_part($1, $$,$$, 1)::bigint, split_part($1, $$,$$, 2)::bigint) WHERE pair = $1' pair
latency "unmerge(merge_id)" 'SELECT customercard.unmerge($1::bigint)' 'merge_id::text'
echo "   (target: merge < 50 ms)"
q -c "SELECT count(*) FROM customercard.contacts WHERE name LIKE 'Merge bench %' AND merged_into IS NOT NULL" \
  | sed 's/^/   tombstones left after the unmerges: /'
