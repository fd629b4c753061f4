#!/usr/bin/env bash
# bench/upsert.sh: what upsert_contact's matching costs on a generated
# account (BENCH_CONTACTS, default 100,000; bench/lib.sh).  Side by side in
# one run, each in a PL/pgSQL function as upsert_contact runs it (its plan
# kept for the session), over the e-mails of 500 existing contacts:
#   - baseline: the lookup as 0.1 wrote it, the e-mails of the call joined
#     to jsonb_to_recordset under ORDER BY email_id LIMIT 1;
#   - the lookup as upsert_contact_in does it: each key of the call probes
#     the lookup index in a LATERAL sub-query of its own (OFFSET 0).
# At 100,000 analyzed contacts both take the index; the baseline's plan
# walks the account in email_id order at some sizes (~8 ms an upsert at
# 9,000 contacts): BENCH_CONTACTS=9000 shows it.
# then upsert_contact itself of those 500 contacts (a match, nothing new),
# in a rolled-back transaction.  Last, what serialising the call's
# identifiers costs: 0.1's advisory locks (1,024 buckets per account) beside
# upsert_lock()'s row locks on the same slots, with pgbench, a transaction
# a call with a phone and an e-mail.  p50/p95 in ms and the ratios.
source "$(dirname "$0")/lib.sh"
bench_cluster
bench_latency_function
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE OR REPLACE FUNCTION public.bench_lookup_join(emails jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cid bigint;
BEGIN
    SELECT e.contact_id INTO cid
      FROM jsonb_to_recordset(emails) AS j(email text)
      JOIN customercard.emails e ON e.account_id = 1 AND customercard.email_key(e.email) = customercard.email_key(j.email)
      JOIN customercard.contacts c ON c.account_id = 1 AND c.contact_id = e.contact_id AND c.deleted_at IS NULL
     ORDER BY e.email_id LIMIT 1;
    RETURN cid;
END $$;
CREATE OR REPLACE FUNCTION public.bench_lock_advisory(acct bigint, keys text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock((acct % 2147483647)::integer, bucket)
       FROM (SELECT DISTINCT (hashtextextended(key, 0) & 1023)::integer AS bucket
               FROM unnest(keys) AS key ORDER BY 1) keys;
END $$;
CREATE OR REPLACE FUNCTION public.bench_lookup_lateral(emails jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cid bigint;
BEGIN
    SELECT x.contact_id INTO cid
      FROM jsonb_to_recordset(emails) AS j(email text),
           LATERAL (SELECT e.email_id, e.contact_id FROM customercard.emails e
                      JOIN customercard.contacts c ON c.account_id = 1 AND c.contact_id = e.contact_id AND c.deleted_at IS NULL
                     WHERE e.account_id = 1 AND customercard.email_key(e.email) = customercard.email_key(j.email)
                    OFFSET 0) x
     ORDER BY x.email_id LIMIT 1;
    RETURN cid;
END $$;
SQL
inputs="ARRAY(SELECT jsonb_build_array(jsonb_build_object('email', e.email))::text FROM customercard.emails e WHERE e.account_id = 1
              ORDER BY hashint8(e.email_id) LIMIT 500)"
same=$(q -c "SELECT count(*) FILTER (WHERE public.bench_lookup_join(x::jsonb) IS DISTINCT FROM public.bench_lookup_lateral(x::jsonb))
               FROM unnest($inputs) x")
read -r j50 j95 <<<"$(q -F ' ' -c "SELECT round(p50::numeric, 3), round(p95::numeric, 3) FROM public.bench_latency('SELECT public.bench_lookup_join(\$1::jsonb)', $inputs)")"
read -r a50 a95 <<<"$(q -F ' ' -c "SELECT round(p50::numeric, 3), round(p95::numeric, 3) FROM public.bench_latency('SELECT public.bench_lookup_lateral(\$1::jsonb)', $inputs)")"
read -r u50 u95 <<<"$(q -F ' ' <<SQL
BEGIN;
SET LOCAL customercard.account_id = 1;
SELECT round(p50::numeric, 3), round(p95::numeric, 3)
  FROM public.bench_latency('SELECT customercard.upsert_contact(jsonb_build_object(''emails'', \$1::jsonb))', $inputs);
ROLLBACK;
SQL
)"
# the locks: a pgbench transaction each (a phone and an e-mail), the
# account's slots made already (as after its first few thousand upserts)
q -c "INSERT INTO customercard.upsert_locks SELECT 1, s FROM generate_series(0, 1023) s ON CONFLICT DO NOTHING"
lockscript() {  # FUNCTION -> a pgbench script calling it
    local f=$(mktemp /tmp/cc_bench_lock.XXXXXX)
    printf '%s\n' '\set i random(1, 10000000)' "SELECT $1(1, ARRAY['email:x' || :i || '@example.com', 'phone:+7958' || :i]);" > "$f"
    echo "$f"
}
adv=$(lockscript public.bench_lock_advisory); row=$(lockscript customercard.upsert_lock)
tv=$(pgbench_tps postgres "$adv" 10); tw=$(pgbench_tps postgres "$row" 10)
tv2=$(pgbench_tps postgres "$adv" 10); tw2=$(pgbench_tps postgres "$row" 10)
rm -f "$adv" "$row"
v50=$(echo "scale=4; 2000 / ($tv + $tv2)" | bc); w50=$(echo "scale=4; 2000 / ($tw + $tw2)" | bc)
echo "== upsert_contact's match by e-mail, $BENCH_CONTACTS contacts, 500 calls each (differing answers: $same)"
printf '  baseline: join to jsonb_to_recordset   p50 %8s p95 %8s ms\n' "$j50" "$j95"
printf '  LATERAL probe per key (upsert_contact) p50 %8s p95 %8s ms | ratio p50 %sx p95 %sx\n' "$a50" "$a95" \
       "$(ratio "$a50" "$j50")" "$(ratio "$a95" "$j95")"
printf '  upsert_contact of a matched contact   p50 %8s p95 %8s ms\n' "$u50" "$u95"
printf '  serialising its identifiers (pgbench, a transaction each, 2 x 10 s): 0.1 advisory locks %s ms, row locks (upsert_lock) %s ms a transaction | ratio %sx, +%s ms an upsert\n' \
       "$v50" "$w50" "$(ratio "$w50" "$v50")" "$(echo "$w50 - $v50" | bc)"
