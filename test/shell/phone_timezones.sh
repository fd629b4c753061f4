#!/usr/bin/env bash
# phone_timezones against libphonenumber's map and rule: the committed C
# tables are what tools/phonemeta/gen_phone_timezones.py writes from the map
# in ../shared/phonedata (PHONEDATA); the server knows every zone the map
# names; and for numbers as people type them (phone_ref typed, 245 regions),
# phone_timezones(number) is what the map gives by libphonenumber's rule
# (PhoneNumberToTimeZonesMapper), computed here in Python from the map's
# text: a number tied to a place (libphonenumber's own IsNumberGeographical)
# by the longest prefix of its digits, any other by its country code alone.
# Prints TAP.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAP=${PHONEDATA:-$ROOT/../shared/phonedata}/timezones_map_data.txt
N=${PHONE_TZ_INPUTS:-20000}
SEED=${PHONE_TZ_SEED:-$(date +%Y%m%d)}
DB=cc_phone_tz
W=$(mktemp -d)
trap 'dropdb --if-exists $DB >/dev/null 2>&1; rm -rf "$W"' EXIT
echo "1..4"
if [ ! -r "$MAP" ]; then
    for i in 1 2 3 4; do echo "ok $i # skip libphonenumber's time zone map is not at $MAP (set PHONEDATA)"; done
    exit 0
fi
if python3 "$ROOT/tools/phonemeta/gen_phone_timezones.py" "$MAP" | cmp -s - "$ROOT/src/phone_timezones.c"; then
    echo "ok 1 - src/phone_timezones.c is generated from the map at hand"
else
    echo "not ok 1 - src/phone_timezones.c differs from the map at hand: make -C tools/phonemeta timezones"
fi
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
psql -X -q -d $DB -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
known=$(grep -v '^#' "$MAP" | cut -s -d'|' -f2 | tr '&' '\n' | sort -u |
          psql -X -q -At -v ON_ERROR_STOP=1 -d $DB -c "CREATE TEMP TABLE z (name text)" -c "COPY z FROM STDIN" \
               -c "SELECT count(*) || ' ' || coalesce(string_agg(name, ' ') FILTER (WHERE NOT customercard.is_valid_timezone(name)), '') FROM z" 2>&1)
if echo "$known" | grep -qE '^[1-9][0-9]* $'; then
    echo "ok 2 - the server knows every zone the map names (${known% })"
else
    echo "not ok 2 - the zones the map names, how many and those the server does not know: $known"
fi
# the numbers, libphonenumber's E.164, international form and tie to a place
g++ -O2 -o "$W/phone_ref" "$ROOT/test/phone_ref/phone_ref.cc" -lphonenumber -lprotobuf
"$W/phone_ref" typed "$SEED" "$N" > "$W/corpus.tsv"
"$W/phone_ref" check < "$W/corpus.tsv" | awk -F'\t' 'NF >= 6 { print $1 "\t" $3 "\t" $6 }' | sort -u > "$W/numbers.tsv"
python3 - "$MAP" "$W/numbers.tsv" > "$W/expected.tsv" <<'PY'
import sys
zones = {}
for line in open(sys.argv[1], encoding='utf-8'):
    line = line.strip()
    if line and not line.startswith('#'):
        p, z = line.split('|')
        # in code point order, as the generator numbers them
        zones[p] = '{' + ','.join(sorted(z.split('&'))) + '}'
def lookup(digits):
    for n in range(len(digits), 0, -1):
        if digits[:n] in zones:
            return zones[digits[:n]]
    return '{}'
for line in open(sys.argv[2]):
    e164, intl, geo = line.rstrip('\n').split('\t')
    cc = intl[1:].split(' ')[0]
    print(e164 + '\t' + ('{}' if geo == '-1' else lookup(e164[1:] if geo == '1' else cc)))
PY
n=$(wc -l < "$W/expected.tsv")
diff=$(psql -X -q -At -d $DB -v ON_ERROR_STOP=1 -c "CREATE TEMP TABLE e (e164 text, zones text[])" -c "COPY e FROM STDIN" -c "
    SELECT count(*) || ' differ, e.g. ' || coalesce(string_agg(e164 || ' ' || zones::text || ' vs ' || got::text, '; ') FILTER (WHERE k <= 5), '')
      FROM (SELECT e.*, customercard.phone_timezones(e.e164::customercard.phone) AS got, row_number() OVER () AS k
              FROM e WHERE customercard.phone_timezones(e.e164::customercard.phone) IS DISTINCT FROM e.zones) d" < "$W/expected.tsv" 2>&1)
single=$(awk -F'\t' '$2 !~ /,/ && $2 != "{}"' "$W/expected.tsv" | wc -l)
if [ "${diff%% *}" = 0 ]; then
    echo "ok 3 - phone_timezones: $n numbers (seed $SEED) as the map gives them, $single with one zone"
else
    echo "not ok 3 - phone_timezones of $n numbers (seed $SEED): $diff"
fi
# phone_timezone: the one zone, else NULL
diff=$(psql -X -q -At -d $DB -v ON_ERROR_STOP=1 -c "CREATE TEMP TABLE e (e164 text, zones text[])" -c "COPY e FROM STDIN" -c "
    SELECT count(*) FROM e WHERE customercard.phone_timezone(e.e164::customercard.phone)
        IS DISTINCT FROM CASE WHEN cardinality(e.zones) = 1 THEN e.zones[1] END" < "$W/expected.tsv" 2>&1)
if [ "$diff" = 0 ]; then
    echo "ok 4 - phone_timezone: the one zone where the map gives one, else NULL"
else
    echo "not ok 4 - phone_timezone: $diff"
fi
