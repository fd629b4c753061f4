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
# in a rolled-back transaction.  p50/p95 in ms and the ratios.
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
echo "== upsert_contact's match by e-mail, $BENCH_CONTACTS contacts, 500 calls each (differing answers: $same)"
printf '  baseline: join to jsonb_to_recordset   p50 %8s p95 %8s ms\n' "$j50" "$j95"
printf '  LATERAL probe per key (upsert_contact) p50 %8s p95 %8s ms | ratio p50 %sx p95 %sx\n' "$a50" "$a95" \
       "$(ratio "$a50" "$j50")" "$(ratio "$a95" "$j95")"
printf '  upsert_contact of a matched contact   p50 %8s p95 %8s ms\n' "$u50" "$u95"
