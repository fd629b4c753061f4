#!/usr/bin/env bash
# bench/phone.sh: what phone normalization costs.  Over N mixed-format inputs
# (default 1,000,000: national and international, brackets, dashes, "8" trunk
# prefix, IDD, tel: URIs, extensions, no-break spaces, full-width digits,
# garbage), side by side in one cluster, interleaved rounds, medians:
#   - SELECT count(lower(raw))                        the function-call floor
#   - SELECT count(customercard.normalize_phone(raw, 'RU'))
#   - the same with the region from customercard.default_region
# and libphonenumber (C++, Debian's) parsing + IsValidNumber + E.164 format of
# the same inputs in one process.  Prints normalize/lower (target <= 2) and
# our throughput in SQL over libphonenumber's (target >= 30).
#   PHONE_INPUTS=1000000 BENCH_ROUNDS=5 bash bench/phone.sh
BENCH_CONTACTS=${BENCH_CONTACTS:-1000}
source "$(dirname "$0")/lib.sh"
bench_cluster
N=${PHONE_INPUTS:-1000000}
ROUNDS=${BENCH_ROUNDS:-5}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }

q <<SQL
DROP TABLE IF EXISTS public.phone_inputs;
CREATE TABLE public.phone_inputs AS
SELECT i, CASE i % 12
    WHEN 0 THEN '+7 (' || substr(n, 1, 3) || ') ' || substr(n, 4, 3) || '-' || substr(n, 7, 2) || '-' || substr(n, 9, 2)
    WHEN 1 THEN '8 ' || substr(n, 1, 3) || ' ' || substr(n, 4, 3) || ' ' || substr(n, 7, 2) || ' ' || substr(n, 9, 2)
    WHEN 2 THEN '8-' || substr(n, 1, 3) || '-' || substr(n, 4)
    WHEN 3 THEN '+7' || n
    WHEN 4 THEN '8 (343) ' || substr(n, 4, 3) || '-' || substr(n, 7, 2) || '-' || substr(n, 9, 2)
    WHEN 5 THEN '810 49 30 ' || substr(n, 4, 7)
    WHEN 6 THEN 'tel:+1-201-555-' || substr(n, 7, 4)
    WHEN 7 THEN '+44 20 7946 ' || substr(n, 7, 4) || ' ext. ' || substr(n, 2, 2)
    WHEN 8 THEN '+7' || chr(160) || substr(n, 1, 3) || chr(160) || substr(n, 4, 3) || chr(160) || substr(n, 7)
    WHEN 9 THEN translate(n, '0123456789', '０１２３４５６７８９')
    WHEN 10 THEN 'Phone: +' || substr(n, 2, 9)
    ELSE 'n/a ' || substr(n, 1, 2) END AS raw
  FROM (SELECT i, (9000000000 + (hashint8extended(i, 3) & 2147483647) % 999999999)::text AS n
          FROM generate_series(1, $N) i) s;
VACUUM ANALYZE public.phone_inputs;
CREATE OR REPLACE FUNCTION public.time_ms(sql text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp(); r bigint;
BEGIN EXECUTE sql INTO r; RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END \$\$;
SQL

echo "== $N inputs; sample:"
q -c "SELECT raw, customercard.normalize_phone(raw, 'RU') FROM public.phone_inputs WHERE i <= 12 ORDER BY i" | sed 's/^/   /'
q -c "SELECT 'valid: ' || count(customercard.normalize_phone(raw, 'RU')) FROM public.phone_inputs" | sed 's/^/   /'

cat > /tmp/customercard_phone_round.sql <<'SQL'
SET max_parallel_workers_per_gather = 0;
SET customercard.default_region = 'RU';
SELECT public.time_ms('SELECT count(lower(raw)) FROM public.phone_inputs');
SELECT public.time_ms('SELECT count(customercard.normalize_phone(raw, ''RU'')) FROM public.phone_inputs');
SELECT public.time_ms('SELECT count(customercard.normalize_phone(raw)) FROM public.phone_inputs');
SQL
lower=(); norm=(); guc=()
for r in $(seq "$ROUNDS"); do
    t=($(q -f /tmp/customercard_phone_round.sql))
    lower+=("${t[0]}"); norm+=("${t[1]}"); guc+=("${t[2]}")
    echo "   round $r: lower ${t[0]} ms, normalize_phone(raw, 'RU') ${t[1]} ms, normalize_phone(raw) ${t[2]} ms"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ml=$(median "${lower[@]}"); mn=$(median "${norm[@]}"); mg=$(median "${guc[@]}")

g++ -O2 -o /tmp/customercard_phone_lpn "$ROOT/bench/phone_libphonenumber.cc" -lphonenumber
q -c "COPY (SELECT raw FROM public.phone_inputs ORDER BY i) TO STDOUT" > /tmp/customercard_phone_inputs.txt
read -r lpn lpn_valid < <(/tmp/customercard_phone_lpn RU 3 < /tmp/customercard_phone_inputs.txt)
ours=$(echo "$N * 1000 / $mn" | bc)

echo "== medians of $ROUNDS rounds"
echo "   lower()                        $ml ms"
echo "   normalize_phone(raw, 'RU')     $mn ms   ($ours numbers/s)"
echo "   normalize_phone(raw) + setting $mg ms"
echo "   libphonenumber parse+E.164     $lpn numbers/s (valid $lpn_valid)"
echo "normalize_phone / lower():            $(ratio "$mn" "$ml")x   (target <= 2)"
echo "normalize_phone (setting) / lower():  $(ratio "$mg" "$ml")x"
echo "our throughput / libphonenumber's:    $(ratio "$ours" "$lpn")x   (target >= 30)"
