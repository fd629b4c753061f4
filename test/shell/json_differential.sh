#!/usr/bin/env bash
# import_json against jsonb on the fuzzer's inputs: libFuzzer explores
# cJSON's grammar (fuzz/fuzz_json.c, from the committed seeds and a few
# lenient ones) for JSON_DIFF_SECONDS (default 5), and each input it kept
# gets JSON_DIFF_MUTANTS (12) mutants (JSON_DIFF_SEED repeats a run); every
# input that is valid UTF-8 without NUL then goes to both jsonb and
# import_json, which
# must refuse (22P02, or 54001 for nesting too deep) exactly the documents
# jsonb refuses.  Prints TAP.  Needs clang with libFuzzer (make fuzz's).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DB=cc_json_diff
SECS=${JSON_DIFF_SECONDS:-5}
W=$(mktemp -d)
trap 'dropdb --if-exists $DB >/dev/null 2>&1; rm -rf $W' EXIT
echo "1..2"
make -s -C "$ROOT" fuzz/fuzz_json >/dev/null
mkdir -p "$W/corpus"
cp "$ROOT"/fuzz/corpus/json/* "$W/corpus/"
i=0
for doc in '[-01]' '[2.]' '[.5]' '[1e5, -0.5]' '[{"name": "a\u00e9\ud83d\ude00"}]' '[{"name": "x", "tags": ["a", "b"]}]' '[true, false, null]'; do
    i=$((i + 1)); printf '%s' "$doc" > "$W/corpus/lenient$i"
done
"$ROOT/fuzz/fuzz_json" -max_total_time="$SECS" -max_len=512 -timeout=5 "$W/corpus" >/dev/null 2>&1 || true
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
psql -X -q -d $DB -c "CREATE EXTENSION customercard CASCADE" -f "$ROOT/test/tap/lib/helpers.sql" >/dev/null 2>&1
# the corpus, and MUTANTS mutants of each input (a token of the lenient
# forms inserted, a byte dropped or doubled)
python3 - "$W/corpus" "${JSON_DIFF_MUTANTS:-12}" "${JSON_DIFF_SEED:-$RANDOM}" > "$W/inputs.sql" <<'PY'
import base64, os, random, sys
d, mutants, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
tokens = [b'-0', b'0', b'01', b'.', b'1.', b'.5', b'e', b'e+', b'+', b'-', b'\f', b'\x0c', b'\x0b', b'\t', b'\n', b'\r', b'\\u',
          b'\\u00', b'\\ud800', b'\\x', b'\\', b'"', b',', b']', b'}', b'[', b'{', b':', b'\xc2\xa0', b'true', b'nul', b'NaN', b' ']
def mutate(b):
    b = bytearray(b)
    for _ in range(rnd.randint(1, 3)):
        p = rnd.randint(0, len(b))
        k = rnd.random()
        if k < 0.6:
            b[p:p] = rnd.choice(tokens)
        elif k < 0.8 and p < len(b):
            del b[p]
        elif p < len(b):
            b[p:p] = b[p:p + 1]
    return bytes(b)
print("CREATE TABLE inputs (name text, data bytea);")
print("-- seed %d" % seed)
for f in sorted(os.listdir(d)):
    b = open(os.path.join(d, f), 'rb').read()
    for i, x in enumerate([b] + [mutate(b) for _ in range(mutants)]):
        print("INSERT INTO inputs VALUES ('%s/%d', decode('%s', 'base64'));" % (f, i, base64.b64encode(x).decode()))
PY
psql -X -q -d $DB -v ON_ERROR_STOP=1 -f "$W/inputs.sql"
out=$(psql -X -q -At -d $DB -v ON_ERROR_STOP=1 <<'SQL'
CREATE FUNCTION pg_temp.as_text(b bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN convert_from(b, 'UTF8');
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;        -- not valid UTF-8, or a NUL byte: no text of PostgreSQL
END $$;
CREATE FUNCTION pg_temp.import_accepts(doc text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count(*) FROM customercard.import_json(doc);
    RETURN true;
EXCEPTION WHEN invalid_text_representation OR program_limit_exceeded OR statement_too_complex THEN
    RETURN false;
    -- (valid JSON that is no array of objects is 22023: accepted as JSON)
    WHEN invalid_parameter_value THEN
    RETURN true;
END $$;
SET customercard.account_id = 1;
CREATE TEMP TABLE verdicts AS
SELECT name, doc, tap.jsonb_accepts(doc) AS jsonb, pg_temp.import_accepts(doc) AS import
  FROM (SELECT name, pg_temp.as_text(data) AS doc FROM inputs) i WHERE doc IS NOT NULL;
SELECT count(*), count(*) FILTER (WHERE NOT jsonb), count(*) FILTER (WHERE jsonb <> import),
       coalesce(string_agg(format('%s %L jsonb %s import %s', name, left(doc, 60), jsonb, import), '; ') FILTER (WHERE jsonb <> import), '')
  FROM verdicts;
SQL
)
IFS='|' read -r total refused differ which <<<"$out"
if [ "$differ" = 0 ]; then
    echo "ok 1 - import_json refuses exactly what jsonb refuses, on $total fuzzer inputs ($refused of them refused)"
else
    echo "not ok 1 - import_json and jsonb differ on $differ of $total fuzzer inputs"
    echo "# $which" | cut -c1-2000
fi
if [ "$total" -ge 300 ] && [ "$refused" -ge 100 ]; then
    echo "ok 2 - the fuzzer gave enough inputs to compare ($total, $refused refused by jsonb)"
else
    echo "not ok 2 - the fuzzer gave too few inputs to compare ($total, $refused refused by jsonb)"
fi
