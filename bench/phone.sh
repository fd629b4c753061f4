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
# our throughput in SQL over libphonenumber's (target >= 30).  Then the same
# over two corpora of every region, each row parsed in its own region: the
# numbers as people type them, and the fuzzer's (below).  And the time zones
# of the valid numbers (phone_timezone, phone_timezones) beside their
# E.164 output.
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
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# rounds FILE LABEL...: ROUNDS runs of FILE (one time per line, in LABEL's
# order), each round printed; MEDIANS: the median of each
rounds() {
    local file=$1 r k line
    shift
    local -a labels=("$@") acc=() t
    for r in $(seq "$ROUNDS"); do
        t=($(q -f "$file"))
        line="   round $r:"
        for k in "${!labels[@]}"; do acc[$k]+=" ${t[$k]}"; line+=" ${labels[$k]} ${t[$k]} ms,"; done
        echo "${line%,}"
    done
    MEDIANS=()
    for k in "${!labels[@]}"; do MEDIANS+=("$(median ${acc[$k]})"); done
}
rounds /tmp/customercard_phone_round.sql lower "normalize_phone(raw, 'RU')" "normalize_phone(raw)"
ml=${MEDIANS[0]}; mn=${MEDIANS[1]}; mg=${MEDIANS[2]}

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

# (0.3) the time zones of stored numbers (the card's local time, the
# audience filter local_hour), beside the stored value's own output (E.164
# text, which phone_timezone formats too)
q >/dev/null <<'SQL'
DROP TABLE IF EXISTS public.phone_values;
CREATE TABLE public.phone_values AS
SELECT customercard.normalize_phone(raw, 'RU')::customercard.phone AS p FROM public.phone_inputs
 WHERE customercard.normalize_phone(raw, 'RU') IS NOT NULL;
VACUUM ANALYZE public.phone_values;
SQL
cat > /tmp/customercard_phone_tz_round.sql <<'SQL'
SET max_parallel_workers_per_gather = 0;
SELECT public.time_ms('SELECT count(p::text) FROM public.phone_values');
SELECT public.time_ms('SELECT count(customercard.phone_timezone(p)) FROM public.phone_values');
SELECT public.time_ms('SELECT count(customercard.phone_timezones(p)) FROM public.phone_values');
SQL
echo "== the time zones of $(q -c "SELECT count(*) FROM public.phone_values") stored numbers ($(q -c "SELECT round(100.0 * count(customercard.phone_timezone(p)) / count(*), 1) FROM public.phone_values")% with one zone)"
rounds /tmp/customercard_phone_tz_round.sql "phone::text" "phone_timezone" "phone_timezones"
echo "phone_timezone / phone::text:         $(ratio "${MEDIANS[1]}" "${MEDIANS[0]}")x"
echo "phone_timezones / phone::text:        $(ratio "${MEDIANS[2]}" "${MEDIANS[0]}")x"

# The per-row corpora, each row read in its own region (an import with a
# country column), test/phone_ref/phone_ref.cc's, as the differential test
# reads them:
#   - typed: what people type into a CRM -- libphonenumber's example number
#     of every region and type in turn, national with the trunk prefix,
#     international with +, 00 or 8 10, brackets, dashes, dots, tel: URIs,
#     extensions, no-break spaces, full-width digits, a word around it; the
#     region the number's own, or the writer's for some international ones
#   - corpus: the fuzzer's -- every format, IDD prefixes of other regions,
#     mutated, some garbage; the region mostly the number's, sometimes
#     another or none
g++ -O2 -o /tmp/customercard_phone_ref "$ROOT/test/phone_ref/phone_ref.cc" -lphonenumber -lprotobuf
region_corpus() {  # KIND TITLE
    local kind=$1 title=$2
    echo "== the $title: $N inputs over every region"
    /tmp/customercard_phone_ref "$kind" 20 "$N" > /tmp/customercard_phone_corpus.tsv
    /tmp/customercard_phone_ref check < /tmp/customercard_phone_corpus.tsv | cut -f1 |
        awk '{ k = ($1 == "-" || $1 == "possible" || $1 == "impossible") ? $1 : "valid"; c[k]++; n++ }
             END { printf "   libphonenumber says: valid %.1f%%, possible only %.1f%%, impossible %.1f%%, no number %.1f%%\n",
                   100*c["valid"]/n, 100*c["possible"]/n, 100*c["impossible"]/n, 100*c["-"]/n }'
    q <<'SQL'
DROP TABLE IF EXISTS public.phone_corpus;
CREATE TABLE public.phone_corpus (i serial, region text, raw text);
SQL
    q -c "COPY public.phone_corpus (region, raw) FROM STDIN WITH (FORMAT text)" < <(sed 's/\\/\\\\/g' /tmp/customercard_phone_corpus.tsv)
    q -c "VACUUM ANALYZE public.phone_corpus"
    q -c "SELECT count(DISTINCT region) || ' regions, ' || count(*) || ' rows' FROM public.phone_corpus" | sed 's/^/   /'
    q -c "SELECT region || ': ' || raw FROM public.phone_corpus WHERE i % ($N / 8 + 1) = 1 ORDER BY i" | sed 's/^/   e.g. /'

    cat > /tmp/customercard_phone_round2.sql <<'SQL'
SET max_parallel_workers_per_gather = 0;
SELECT public.time_ms('SELECT count(lower(raw)) FROM public.phone_corpus');
SELECT public.time_ms('SELECT count(customercard.normalize_phone(raw, region)) FROM public.phone_corpus');
SELECT public.time_ms('SELECT count(customercard.normalize_phone(raw, ''RU'')) FROM public.phone_corpus');
SQL
    rounds /tmp/customercard_phone_round2.sql lower "normalize_phone(raw, region)" "normalize_phone(raw, 'RU')"
    local ml2=${MEDIANS[0]} mr2=${MEDIANS[1]} mc2=${MEDIANS[2]} lpn_row lpn_row_valid lpn_const lpn_const_valid
    cut -f2- /tmp/customercard_phone_corpus.tsv > /tmp/customercard_phone_corpus_text.txt
    read -r lpn_row lpn_row_valid < <(/tmp/customercard_phone_lpn - 3 < /tmp/customercard_phone_corpus.tsv)
    read -r lpn_const lpn_const_valid < <(/tmp/customercard_phone_lpn RU 3 < /tmp/customercard_phone_corpus_text.txt)
    local ours_row ours_const
    ours_row=$(echo "$N * 1000 / $mr2" | bc); ours_const=$(echo "$N * 1000 / $mc2" | bc)
    echo "== medians of $ROUNDS rounds, the $title"
    echo "   lower()                            $ml2 ms"
    echo "   normalize_phone(raw, region)       $mr2 ms   ($ours_row numbers/s; libphonenumber $lpn_row/s, valid $lpn_row_valid)"
    echo "   normalize_phone(raw, 'RU')         $mc2 ms   ($ours_const numbers/s; libphonenumber $lpn_const/s, valid $lpn_const_valid)"
    echo "per-row region / lower():             $(ratio "$mr2" "$ml2")x   (target <= 2)"
    echo "constant region / lower():            $(ratio "$mc2" "$ml2")x"
    echo "per-row: ours / libphonenumber's:     $(ratio "$ours_row" "$lpn_row")x   (target >= 30)"
    echo "constant: ours / libphonenumber's:    $(ratio "$ours_const" "$lpn_const")x"
}
region_corpus typed "typed numbers"
region_corpus corpus "fuzzer's corpus"
