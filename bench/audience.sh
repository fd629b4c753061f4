#!/usr/bin/env bash
# bench/audience.sh: the CRM table and the card at a million contacts
# (BENCH_CONTACTS, default 1,000,000).  As a bound manager, with a warm-up,
# BENCH_SAMPLES (default 300) random inputs each, server-side latency per
# call (planning included), p50 and p95:
#   - card_json(random live contact), target p95 < 5 ms: cold (the first
#     call for each contact, no warm-up) and warm (the same contacts again)
#   - card_quick of the same contacts, target p95 <= 1 ms, against the card
#     view's row and the contact's own row
#   - audience_search, a page (1-5) with 2-3 filters        target p95 < 50 ms
#   - audience_search by a phone typed in another format   target p95 < 50 ms
#   - audience_search by a name: common, rare, a prefix, first and last   target p95 < 50 ms
#   - audience_count of a common name (exact: every match is counted)
#   - audience_count of common filters
#   - (0.3) audience_search and audience_count by local_hour (a 9-hour
#     window of the person's local time), alone and with a tag
# then the plans of the inner queries (auto_explain) to show index use.
BENCH_CONTACTS=${BENCH_CONTACTS:-1000000}
source "$(dirname "$0")/lib.sh"
bench_cluster
N=${BENCH_SAMPLES:-300}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }
bench_latency_function

q >/dev/null <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cc_bench_manager') THEN
        CREATE ROLE cc_bench_manager LOGIN IN ROLE customercard_manager;
    END IF;
END $$;
SELECT customercard.bind_role('cc_bench_manager', (SELECT account_id FROM customercard.accounts WHERE is_default))
 WHERE NOT EXISTS (SELECT 1 FROM customercard.role_bindings WHERE role = 'cc_bench_manager'::regrole);
GRANT EXECUTE ON FUNCTION public.bench_latency(text, text[], boolean) TO cc_bench_manager;
-- a view's row as an application that prepares its statements reads it
-- (drivers do: the plan cached after a few calls): static SQL in PL/pgSQL
CREATE OR REPLACE FUNCTION public.bench_prepared(view text, id bigint) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF view = 'card_quick' THEN
        RETURN (SELECT to_jsonb(q) FROM customercard.card_quick q WHERE q.contact_id = id);
    END IF;
    RETURN (SELECT to_jsonb(q) FROM customercard.card q WHERE q.contact_id = id);
END $$;
GRANT EXECUTE ON FUNCTION public.bench_prepared(text, bigint) TO cc_bench_manager;
SQL

# random inputs, drawn once (as the superuser: it reads every table)
q <<SQL >/dev/null
DROP TABLE IF EXISTS public.bench_inputs;
CREATE TABLE public.bench_inputs (kind text, input text);
INSERT INTO public.bench_inputs
SELECT CASE WHEN row_number() OVER (ORDER BY h) <= $N THEN 'card' ELSE 'card_warmup' END, contact_id::text
  -- other contacts each run (seeded by the clock), so that "cold" is a first touch
  FROM (SELECT contact_id, hashint8(contact_id + extract(epoch FROM now())::bigint) AS h FROM customercard.contacts
         WHERE merged_into IS NULL AND deleted_at IS NULL ORDER BY 2 LIMIT $N + 100) c;
INSERT INTO public.bench_inputs
SELECT 'filters', (ARRAY[
         jsonb_build_object('tag', t.name, 'has_phone', true),
         jsonb_build_object('channel', 'telegram', 'status', 'active'),
         jsonb_build_object('funnel', f.name, 'gender', 'female', 'has_email', true),
         jsonb_build_object('paid_offer', o.offer, 'channel', 'whatsapp'),
         jsonb_build_object('tags_any', jsonb_build_array(t.name, 'vip'), 'gender', 'male', 'status', 'active'),
         jsonb_build_object('created_from', '2024-06-01', 'has_phone', true, 'channel', 'vk')])[1 + g % 6]
         || jsonb_build_object('page', 1 + g % 5)
  FROM generate_series(1, $N) g
  CROSS JOIN LATERAL (SELECT name FROM customercard.tags ORDER BY hashint8(tag_id + g) LIMIT 1) t
  CROSS JOIN LATERAL (SELECT name FROM customercard.funnels ORDER BY hashint8(funnel_id + g) LIMIT 1) f
  CROSS JOIN LATERAL (SELECT DISTINCT offer FROM customercard.orders WHERE order_id < 2000 ORDER BY 1 OFFSET g % 5 LIMIT 1) o;
-- a contact's number, typed in another format than stored
INSERT INTO public.bench_inputs
SELECT 'phone', jsonb_build_object('search',
         CASE WHEN p.phone::text LIKE '+7%' THEN '8 (' || substr(p.phone::text, 3, 3) || ') ' || substr(p.phone::text, 6, 3)
                   || '-' || substr(p.phone::text, 9, 2) || '-' || substr(p.phone::text, 11)
              ELSE customercard.format_phone(p.phone, 'international') END)::text
  FROM customercard.phones p ORDER BY hashint8(p.phone_id) LIMIT $N;
-- names as a manager types them, pages 1-5: a common last name (each some
-- 4% of the contacts), a rare one (a few people), the first letters of a
-- common one in lower case, a first and last name (two words, ~0.3%)
CREATE TEMP TABLE last_names AS
SELECT c.last_name, count(*) AS n FROM customercard.contacts c
 WHERE c.merged_into IS NULL AND c.deleted_at IS NULL AND c.last_name IS NOT NULL GROUP BY 1;
INSERT INTO public.bench_inputs
SELECT k.kind, jsonb_build_object('search', k.search, 'page', 1 + g % 5)::text
  FROM generate_series(1, $N) g
 CROSS JOIN LATERAL (SELECT l.last_name FROM last_names l WHERE l.n >= 1000 ORDER BY hashint8(g + length(l.last_name) * 7919 + ascii(l.last_name)) LIMIT 1) com
 LEFT JOIN LATERAL (SELECT l.last_name FROM last_names l WHERE l.n <= 10 ORDER BY hashint8(g + length(l.last_name) * 7919 + ascii(l.last_name)), l.last_name LIMIT 1) rare ON true
 CROSS JOIN LATERAL (SELECT c.first_name || ' ' || c.last_name AS full_name FROM customercard.contacts c
                      WHERE c.contact_id >= (SELECT min(contact_id) FROM customercard.contacts) + (hashint8(g) & 262143)
                        AND c.first_name IS NOT NULL AND c.last_name IS NOT NULL
                      ORDER BY c.contact_id LIMIT 1) fn
 CROSS JOIN LATERAL (VALUES ('name', com.last_name), ('name_rare', rare.last_name),
                            ('name_prefix', lower(left(com.last_name, 4))), ('name_full', fn.full_name)) k (kind, search)
 WHERE k.search IS NOT NULL;
INSERT INTO public.bench_inputs
SELECT 'name_count', jsonb_build_object('search', l.last_name)::text
  FROM generate_series(1, greatest($N / 10, 10)) g
 CROSS JOIN LATERAL (SELECT l.last_name FROM last_names l WHERE l.n >= 1000 ORDER BY hashint8(g + ascii(l.last_name)), l.last_name LIMIT 1) l;
INSERT INTO public.bench_inputs
SELECT 'count', x FROM generate_series(1, greatest($N / 10, 10)) g,
       LATERAL (SELECT (ARRAY['{}', '{"has_phone": true}', '{"status": "active"}', '{"channel": "telegram"}',
                              '{"tag": "vip"}', '{"gender": "female", "has_email": true}'])[1 + g % 6] AS x) s;
-- (0.3) people whose local time now is in a working day's window (the stated
-- zone, else the primary phone's), alone and with a tag
INSERT INTO public.bench_inputs
SELECT 'local_hour', (jsonb_build_object('local_hour', jsonb_build_array(g % 24, (g % 24) + 9 - CASE WHEN g % 24 > 15 THEN 24 ELSE 0 END))
                      || CASE WHEN g % 2 = 0 THEN jsonb_build_object('tag', 'vip') ELSE '{}' END
                      || jsonb_build_object('page', 1 + g % 5))::text
  FROM generate_series(1, greatest($N / 10, 10)) g;
ANALYZE public.bench_inputs;
GRANT SELECT ON public.bench_inputs TO cc_bench_manager;
SQL

measure() {  # label kind sql [warmup]
    local r
    r=$(psql -X -q -At -U cc_bench_manager -d bench -c \
        "SELECT round(p50::numeric, 2) || ' ' || round(p95::numeric, 2) || ' ' || calls
           FROM public.bench_latency(\$q\$$3\$q\$, ARRAY(SELECT input FROM public.bench_inputs WHERE kind = '$2'), ${4:-true})")
    [ -n "$r" ] || { printf '   %-46s (no inputs of kind %s)\n' "$1" "$2"; return; }
    set -- "$1" $r
    P50=$2; P95=$3
    printf '   %-46s p50 %8s ms   p95 %8s ms   (%s calls)\n' "$1" "$2" "$3" "$4"
}
echo "== latency at $BENCH_CONTACTS contacts, as a bound manager"
# A contact's rows are some 30 pages in 20 tables: the first call for a
# contact reads them into shared buffers (cold), a manager's next look at
# the card finds them there (warm).  One session, warmed up on 100 other
# contacts first (a new backend's first calls fill its catalog and plan
# caches and map shared memory, which is no property of the card).
psql -X -q -At -U cc_bench_manager -d bench \
    -c "SELECT count(*) FROM public.bench_latency('SELECT customercard.card_json(\$1::bigint)',
                                                  ARRAY(SELECT input FROM public.bench_inputs WHERE kind = 'card_warmup'), false)" \
    -c "SELECT 'cold', round(p50::numeric, 2), round(p95::numeric, 2), calls
          FROM public.bench_latency('SELECT customercard.card_json(\$1::bigint)',
                                    ARRAY(SELECT input FROM public.bench_inputs WHERE kind = 'card'), false)" \
    -c "SELECT 'warm', round(p50::numeric, 2), round(p95::numeric, 2), calls
          FROM public.bench_latency('SELECT customercard.card_json(\$1::bigint)',
                                    ARRAY(SELECT input FROM public.bench_inputs WHERE kind = 'card'), false)" \
  | awk -F'|' 'NF == 4 { printf "   %-46s p50 %8s ms   p95 %8s ms   (%s calls)\n",
                          "card_json(random contact), " $1, $2, $3, $4 }'
# the quick card beside a chat (target p95 <= 1 ms), the same contacts
# (warm), beside the card view's row and the contact's own row (the floor:
# one probe of its key); each call planned, as a plain query is
Q='SELECT to_jsonb(q) FROM customercard.%s q WHERE q.contact_id = $1::bigint'
measure "card_quick (random contact, warm), planned" card "$(printf "$Q" card_quick)"; q50=$P50; q95=$P95
measure "... the card view's row, planned" card "$(printf "$Q" card)"; c50=$P50; c95=$P95
measure "... the contact's row (floor), planned" card "$(printf "$Q" contacts)"; f50=$P50; f95=$P95
printf '   %-46s p50 %8s      p95 %8s\n' "card_quick / card view, planned" "$(ratio "$q50" "$c50")x" "$(ratio "$q95" "$c95")x"
printf '   %-46s p50 %8s      p95 %8s\n' "card_quick / the contact's row, planned" "$(ratio "$q50" "$f50")x" "$(ratio "$q95" "$f95")x"
measure "card_quick, prepared (plan cached)" card 'SELECT public.bench_prepared($$card_quick$$, $1::bigint)'; q50=$P50; q95=$P95
measure "... the card view's row, prepared" card 'SELECT public.bench_prepared($$card$$, $1::bigint)'; c50=$P50; c95=$P95
printf '   %-46s p50 %8s      p95 %8s\n' "card_quick / card view, prepared" "$(ratio "$q50" "$c50")x" "$(ratio "$q95" "$c95")x"
measure "audience_search, 2-3 filters, page 1-5" filters \
    'SELECT count(*) FROM customercard.audience_search(($1::jsonb) - $$page$$, (($1::jsonb) ->> $$page$$)::int, 30)'
measure "audience_search by phone (another format)" phone 'SELECT count(*) FROM customercard.audience_search($1::jsonb)'
PAGED='SELECT count(*) FROM customercard.audience_search(($1::jsonb) - $$page$$, (($1::jsonb) ->> $$page$$)::int, 30)'
measure "audience_search by a common last name, page 1-5" name "$PAGED"
measure "... by a rare last name, page 1-5" name_rare "$PAGED"
measure "... by a prefix as typed (смир), page 1-5" name_prefix "$PAGED"
measure "... by first and last name, page 1-5" name_full "$PAGED"
measure "audience_search by local_hour (+ a tag), page 1-5" local_hour "$PAGED"
measure "audience_count by local_hour (+ a tag)" local_hour 'SELECT customercard.audience_count(($1::jsonb) - $$page$$)'
measure "audience_count of a common last name (exact)" name_count 'SELECT customercard.audience_count($1::jsonb)'
measure "audience_count, common filters" count 'SELECT customercard.audience_count($1::jsonb)'

echo "== plans of the inner queries (auto_explain)"
# (head closes the pipe early: not a failure of the benchmark)
{ q <<'SQL' 2>&1 | grep -E 'Query Text|Scan|Join|Limit|Sort|Bitmap|Index Cond|SubPlan' | sed 's/^/   /' | head -60; } || true
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
SET customercard.default_region = 'RU';
SELECT count(*) FROM customercard.audience_search('{"tag": "vip", "has_phone": true}', 2, 30);
SELECT count(*) FROM customercard.audience_search(
    (SELECT input::jsonb FROM public.bench_inputs WHERE kind = 'phone' LIMIT 1));
SQL
