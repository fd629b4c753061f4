#!/usr/bin/env bash
# Imports under random input: mutated CSV and JSON files (flipped
# and inserted bytes, stray quotes, separators, line breaks, byte order
# marks, truncation) go through import_csv and import_json.  Each must end
# with a report or with one of the errors a bad file gets -- never a crash,
# never another error.  Prints TAP.  IMPORT_FUZZ_CASES (default 600) per
# format; IMPORT_FUZZ_SEED to repeat a run.
set -euo pipefail
DB=cc_import_fuzz
CASES=${IMPORT_FUZZ_CASES:-600}
SEED=${IMPORT_FUZZ_SEED:-$RANDOM}
W=$(mktemp -d)
trap 'dropdb --if-exists $DB >/dev/null 2>&1; rm -rf $W' EXIT
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
psql -X -q -d $DB -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
psql -X -q -d $DB -c "INSERT INTO customercard.funnels (name) VALUES ('Free lesson'); INSERT INTO customercard.custom_fields (name) VALUES ('Source')"
python3 - "$W/cases.sql" "$CASES" "$SEED" <<'PY'
import json, random, sys
out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
csv_seed = ('\ufeffname;phone;email;tags;custom:Source;funnel;channel;social_id\r\n'
            'Anna;8 912 111 22 33;anna@example.com;"vip, webinar";fair;Free lesson;telegram;tg1\r\n'
            '"Boris ""B""";+7 913 000 11 22;;;;;;\r\n"Multi\nline";;m@example.com;a;b;;;\r\n')
json_seed = json.dumps([{"name": "Anna", "phones": ["8 912 111 22 33"], "tags": ["vip"], "custom": {"Source": "fair"},
                         "funnel": "Free lesson", "channel": {"kind": "telegram", "external_id": "tg1"}},
                        {"name": "Boris \"B\"", "emails": ["b@example.com"], "phones": ["+7 913 000 11 22"]}, 42, None],
                       ensure_ascii=False)
noise = ['"', ';', ',', '\n', '\r', '\r\n', '\ufeff', '{', '}', '[', ']', ':', '\\', '\\u0000', 'null', '""', '\t', 'é', 'Ж', '💥']
def mutate(s):
    s = list(s)
    for _ in range(rnd.randint(1, 6)):
        op = rnd.random()
        i = rnd.randint(0, max(len(s) - 1, 0))
        if op < 0.35 and s:
            del s[i]
        elif op < 0.75:
            s.insert(i, rnd.choice(noise))
        elif op < 0.9 and s:
            s[i] = chr(rnd.randint(32, 0x44f))
        else:
            s = s[:i]
    return ''.join(s)
with open(out, 'w', encoding='utf-8') as f:
    f.write('\\set VERBOSITY sqlstate\n')
    for k in range(n):
        for fn, seed_doc in (('import_csv', csv_seed), ('import_json', json_seed)):
            doc = mutate(seed_doc).replace('\x00', '')
            tag = '$fz%d$' % k
            while tag in doc:
                tag = '$fz%d%d$' % (k, rnd.randint(0, 9999))
            f.write('SELECT count(*) FROM customercard.%s(%s%s%s);\n' % (fn, tag, doc, tag))
PY
echo "1..3"
psql -X -q -At -d $DB -f "$W/cases.sql" > "$W/out.txt" 2>&1 || true
errors=$(grep -c '^psql:.*ERROR:' "$W/out.txt" || true)
reports=$(grep -cE '^[0-9]+$' "$W/out.txt" || true)
unexpected=$(grep '^psql:.*ERROR:' "$W/out.txt" | grep -vE 'ERROR:  (22P04|22P02|22023|22021)$' || true)
[ "$((errors + reports))" = "$((2 * CASES))" ] && echo "ok 1 - $((2 * CASES)) mutated files: $reports reports, $errors refused files (seed $SEED)" \
    || { echo "not ok 1 - $reports reports and $errors errors for $((2 * CASES)) files (seed $SEED)"; tail -3 "$W/out.txt" | sed 's/^/# /'; }
[ -z "$unexpected" ] && echo "ok 2 - every refusal is a bad-file error (22P04, 22P02, 22023, 22021)" \
    || { echo "not ok 2 - other errors (seed $SEED):"; echo "$unexpected" | sort | uniq -c | head -5 | sed 's/^/# /'; }
alive=$(psql -X -At -d $DB -c "SELECT 1" 2>/dev/null || true)
[ "$alive" = 1 ] && ! grep -q "server closed the connection" "$W/out.txt" && echo "ok 3 - the server never went down" \
    || echo "not ok 3 - the backend crashed (seed $SEED)"
