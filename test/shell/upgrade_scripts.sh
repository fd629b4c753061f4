#!/usr/bin/env bash
# Upgrade scripts hold each object once, and every change (tools/sqlobject,
# docs/development.md#upgrade-scripts):
#  - no upgrade script, released or in the making, defines a function,
#    procedure or view twice, copies a generator DO block, or (an .in) grants
#    by hand: the built script appends regenerate() and 99_grants.sql;
#  - every function, procedure and view of src/sql that differs from the
#    last release's install script is defined by the .in of the step from
#    it;
#  - each check fails when it should: on a copy with an object twice, and on
#    sources with one function changed and one added.
# Prints TAP.  Needs no server.
set -euo pipefail
source "$(dirname "$0")/lib/cards.sh"
SQLOBJECT="python3 $ROOT/tools/sqlobject"
WORK=$(mktemp -d /tmp/cc_upscripts.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT/upgrade"
steps=$(ls customercard--*--*.sql customercard--*--*.in 2>/dev/null || true)
pending=$(ls customercard--*--*.in 2>/dev/null || true)
echo "1..$(( $(echo $steps | wc -w) + $(echo $pending | wc -w) * 2 + 3 ))"

for f in $steps; do
    ok "$($SQLOBJECT --check-unique "$f" 2>&1 | tr '\n' ';')" "ok;" "$f defines each object once, calls the generators, grants nothing by hand"
done
for f in $pending; do
    from=$(echo "$f" | sed 's/^customercard--\(.*\)--.*\.in$/\1/')
    ok "$($SQLOBJECT --check-changes "customercard--$from.sql" "$f" 2>&1 | tr '\n' ';')" "ok;" \
       "every function, procedure and view changed since $from is in $f"
    ok "$(make -s -C "$ROOT" "${f%.in}.sql" >/dev/null 2>&1 && $SQLOBJECT --check-unique "$ROOT/${f%.in}.sql" 2>&1 | tr '\n' ';')" "ok;" \
       "the script built from $f defines each object once"
done

# the checks are not vacuous
last=$(echo $steps | tr ' ' '\n' | grep '\.sql$' | sort -V | tail -1 || true)
probe=${last:-$(echo $pending | cut -d' ' -f1)}
python3 - "$probe" "$WORK/twice.sql" <<'PY'
import re, sys
s = open(sys.argv[1], encoding='utf-8').read()
m = re.search(r'(?ms)^CREATE (OR REPLACE )?FUNCTION .*?^\$\$;\n|^-- @define [\w.]+\n', s)
open(sys.argv[2], 'w', encoding='utf-8').write(s + '\n' + m.group(0))
PY
ok "$($SQLOBJECT --check-unique "$WORK/twice.sql" | grep -c 'twice' || true)" 1 "a script with one object defined twice is reported"
printf "GRANT SELECT ON customercard.contacts TO customercard_reader;\n" > "$WORK/customercard--9.8--9.9.in"
ok "$($SQLOBJECT --check-unique "$WORK/customercard--9.8--9.9.in" | grep -c 'grants by hand' || true)" 1 \
   "an .in that grants by hand is reported"

cp -r "$ROOT/src/sql" "$WORK/src"
sed -i "0,/'contact data must be a JSON object'/s//'contact data must be one JSON object'/" "$WORK/src/30_upsert.sql"
printf "CREATE FUNCTION customercard.zz_probe() RETURNS integer LANGUAGE sql AS 'SELECT 1';\n" >> "$WORK/src/47_import_export.sql"
released=$(ls customercard--*.sql | grep -v -- '--.*--' | sort -V | tail -1)
printf -- "-- nothing\n" > "$WORK/empty.in"
report=$($SQLOBJECT --src "$WORK/src" --check-changes "$released" "$WORK/empty.in" || true)
ok "$(echo "$report" | grep -c -e 'customercard.upsert_check_shape(bigint, jsonb) changed' -e 'customercard.zz_probe() changed' || true)" 2 \
   "a changed function and a new one missing from the .in are reported"
