#!/usr/bin/env bash
# bench/import.sh: what the import machinery costs.  BENCH_IMPORT_ROWS
# (default 20,000) new contacts -- name, a phone, an e-mail, two tags, a
# custom field -- on top of a generated account (BENCH_CONTACTS, default
# 100,000), each variant in a rolled-back transaction, interleaved, median
# of BENCH_ROUNDS (default 3):
#   - baseline: the same objects through upsert_contact in one statement
#     (the path every import goes through, without parsing or reports)
#   - import_json of the array (cJSON, a subtransaction and a report line per row)
#   - import_csv of the same rows as CSV
#   - import_xlsx of the same rows as an .xlsx workbook (written by openpyxl,
#     Debian's python3-openpyxl: shared strings, the sheet streamed)
#   - import_enqueue of the CSV and the runner's batches (bulk_run_batch of
#     2,000 rows, as CALL bulk_run() does them, without its commits)
source "$(dirname "$0")/lib.sh"
bench_cluster
ROWS=${BENCH_IMPORT_ROWS:-20000}
ROUNDS=${BENCH_ROUNDS:-3}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }
q >/dev/null <<SQL
INSERT INTO customercard.custom_fields (name) VALUES ('Import source') ON CONFLICT DO NOTHING;
DROP TABLE IF EXISTS public.bench_import_doc;
CREATE TABLE public.bench_import_doc AS
SELECT 'json' AS kind,
       json_agg(json_build_object('name', 'Import ' || i, 'phones', json_build_array('+7 958 ' || lpad(i::text, 7, '0')),
                                  'emails', json_build_array('import' || i || '@bench.example'),
                                  'tags', json_build_array('imported', 'batch ' || (i % 10)),
                                  'custom', json_build_object('Import source', 'fair ' || (i % 7))))::text AS doc
  FROM generate_series(1, $ROWS) i
UNION ALL
SELECT 'csv', E'name,phone,email,tags,custom:Import source\r\n'
              || string_agg('Import ' || i || ',+7 958 ' || lpad(i::text, 7, '0') || ',import' || i || '@bench.example,'
                            || '"imported, batch ' || (i % 10) || '",fair ' || (i % 7), E'\r\n' ORDER BY i) || E'\r\n'
  FROM generate_series(1, $ROWS) i;
SQL

ms() {  # SQL; milliseconds, rolled back
    q <<SQL | tail -1
BEGIN;
SELECT clock_timestamp() AS t0 \gset
$1;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
ROLLBACK;
SQL
}
XW=$(mktemp -d); trap 'rm -rf $XW' EXIT
/usr/bin/python3 - "$XW/rows.xlsx" "$ROWS" <<'PY'
import sys, openpyxl
wb = openpyxl.Workbook(write_only=True)
ws = wb.create_sheet()
ws.append(["name", "phone", "email", "tags", "custom:Import source"])
for i in range(1, int(sys.argv[2]) + 1):
    ws.append(["Import %d" % i, "+7 958 %07d" % i, "import%d@bench.example" % i, "imported, batch %d" % (i % 10), "fair %d" % (i % 7)])
wb.save(sys.argv[1])
PY
printf "DROP TABLE IF EXISTS public.bench_import_xlsx; CREATE TABLE public.bench_import_xlsx AS SELECT decode('%s', 'base64') AS doc;" \
    "$(base64 -w0 "$XW/rows.xlsx")" > "$XW/load.sql"
q -f "$XW/load.sql" >/dev/null
JSON="(SELECT doc FROM public.bench_import_doc WHERE kind = 'json')"
CSV="(SELECT doc FROM public.bench_import_doc WHERE kind = 'csv')"
XLSX="(SELECT doc FROM public.bench_import_xlsx)"
QUEUE="DO \$q\$ DECLARE j bigint := customercard.import_enqueue(convert_to($CSV, 'UTF8'), 'csv');
      BEGIN WHILE customercard.bulk_run_batch(customercard.require_account_id(), j, 2000) > 0 LOOP END LOOP; END \$q\$"
base=(); js=(); cs=(); xs=(); qs=()
for r in $(seq 1 "$ROUNDS"); do
    base+=("$(ms "SELECT count(customercard.upsert_contact(x)) FROM jsonb_array_elements($JSON::jsonb) x")")
    js+=("$(ms "SELECT count(*) FROM customercard.import_json($JSON) WHERE status = 'created'")")
    cs+=("$(ms "SELECT count(*) FROM customercard.import_csv($CSV) WHERE status = 'created'")")
    xs+=("$(ms "SELECT count(*) FROM customercard.import_xlsx($XLSX) WHERE status = 'created'")")
    qs+=("$(ms "$QUEUE")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
b=$(median "${base[@]}"); j=$(median "${js[@]}"); c=$(median "${cs[@]}"); x=$(median "${xs[@]}"); qq=$(median "${qs[@]}")
echo "== importing $ROWS new contacts into $BENCH_CONTACTS, median of $ROUNDS"
printf '   upsert_contact over the JSON array (baseline)  %6s ms   (%s)\n' "$b" "${base[*]}"
printf '   import_json                                    %6s ms   (%s)\n' "$j" "${js[*]}"
printf '   import_csv                                     %6s ms   (%s)\n' "$c" "${cs[*]}"
printf '   import_xlsx (%s kB workbook)                  %6s ms   (%s)\n' "$(( $(stat -c %s "$XW/rows.xlsx") / 1024 ))" "$x" "${xs[*]}"
printf '   import_enqueue + the runner'"'"'s batches         %6s ms   (%s)\n' "$qq" "${qs[*]}"
echo "   import_json / baseline: $(ratio "$j" "$b")x   import_csv / baseline: $(ratio "$c" "$b")x   (the parser, a subtransaction and a report line per row)"
echo "   import_xlsx / baseline: $(ratio "$x" "$b")x   import_xlsx / import_csv: $(ratio "$x" "$c")x   (unzipping and the XML)"
echo "   import_enqueue + batches / import_csv: $(ratio "$qq" "$c")x   (the target for import_xlsx and import_enqueue of 100,000 rows: <= 1.3x import_csv)"
