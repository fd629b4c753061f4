#!/usr/bin/env bash
# bench/import.sh: imports against their floor.  BENCH_IMPORT_ROWS (default
# 100,000) new contacts -- name, a phone, an e-mail, two tags, a custom
# field -- on top of a generated account (BENCH_CONTACTS, default 100,000),
# each variant in a rolled-back transaction, median of BENCH_ROUNDS
# (default 1), rows a second:
#   - import_csv of the file (import_set: a statement per section for
#     5,000 rows at a time)
#   - the floor: the same CSV file COPYed into a staging table, then one
#     INSERT ... SELECT per section (contacts, phones, e-mails, tags, the
#     contacts' tags, custom values), the log triggers on
#   - the row path, as 0.2 wrote every import: each row of the file
#     (import_rows) through import_upsert in a subtransaction; on the first
#     BENCH_ROWPATH_ROWS (default 10,000) rows, for its time
#   - BENCH_IMPORT_FORMATS (default "json xlsx queue"): import_json of the
#     same rows as a JSON array, import_xlsx as an .xlsx workbook (written
#     by openpyxl), import_enqueue of the CSV and the runner's batches
#     (bulk_run_batch of 2,000 rows, as CALL bulk_run() does them)
#   - import_csv of the file into a new account (made, with the custom
#     field, in the same rolled-back transaction): its tables' statistics
#     know nothing of the rows the import writes
# Also the peak anonymous memory (RssAnon) of the importing backend during
# import_csv, and upsert_contact's latency (p50/p95 of 500 new contacts).
source "$(dirname "$0")/lib.sh"
bench_cluster
ROWS=${BENCH_IMPORT_ROWS:-100000}
ROW_ROWS=${BENCH_ROWPATH_ROWS:-10000}
[ "$ROW_ROWS" -gt "$ROWS" ] && ROW_ROWS=$ROWS
ROUNDS=${BENCH_ROUNDS:-1}
FORMATS=${BENCH_IMPORT_FORMATS-json xlsx queue}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }
XW=$(mktemp -d); trap 'rm -rf $XW' EXIT
chmod 755 "$XW"
python3 - "$XW/rows.csv" "$ROWS" <<'PY'
import sys
with open(sys.argv[1], 'w', newline='') as f:
    f.write('name,phone,email,tags,custom:Import source\r\n')
    for i in range(1, int(sys.argv[2]) + 1):
        f.write('Import %d,+7 958 %07d,import%d@bench.example,"imported, batch %d",fair %d\r\n' % (i, i, i, i % 10, i % 7))
PY
chmod 644 "$XW/rows.csv"
q >/dev/null <<SQL
INSERT INTO customercard.custom_fields (name) VALUES ('Import source') ON CONFLICT DO NOTHING;
DROP TABLE IF EXISTS public.bench_import_doc;
CREATE TABLE public.bench_import_doc AS SELECT 'csv' AS kind, pg_read_file('$XW/rows.csv') AS doc;
SQL
CSV="(SELECT doc FROM public.bench_import_doc WHERE kind = 'csv')"

ms() {  # SQL; milliseconds, rolled back
    q <<SQL | tail -1
BEGIN;
SELECT clock_timestamp() AS t0 \gset
$1;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
ROLLBACK;
SQL
}
rate() { echo "scale=0; $1 * 1000 / $2" | bc; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# the floor: COPY into a staging table, one INSERT ... SELECT per section
floor_ms() {
    q <<SQL | tail -1
BEGIN;
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE stage (name text, phone text, email text, tags text, src text) ON COMMIT DROP;
\copy stage FROM '$XW/rows.csv' (FORMAT csv, HEADER)
CREATE TEMP TABLE staged ON COMMIT DROP AS SELECT nextval('customercard.contacts_contact_id_seq') AS id, s.* FROM stage s;
INSERT INTO customercard.contacts (account_id, contact_id, name) SELECT customercard.require_account_id(), s.id, s.name FROM staged s;
INSERT INTO customercard.phones (account_id, contact_id, phone, raw, is_primary)
SELECT customercard.require_account_id(), s.id, customercard.normalize_phone(s.phone)::customercard.phone, s.phone, true FROM staged s;
INSERT INTO customercard.emails (account_id, contact_id, email, raw, is_primary)
SELECT customercard.require_account_id(), s.id, customercard.normalize_email(s.email), s.email, true FROM staged s;
INSERT INTO customercard.tags (account_id, name)
SELECT DISTINCT customercard.require_account_id(), btrim(t) FROM staged s, unnest(string_to_array(s.tags, ',')) t ON CONFLICT DO NOTHING;
INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id)
SELECT customercard.require_account_id(), s.id, g.tag_id FROM staged s, unnest(string_to_array(s.tags, ',')) t
  JOIN customercard.tags g ON g.account_id = customercard.require_account_id() AND g.name = btrim(t);
INSERT INTO customercard.custom_values (account_id, contact_id, field_id, value)
SELECT customercard.require_account_id(), s.id, f.field_id, s.src FROM staged s
  JOIN customercard.custom_fields f ON f.account_id = customercard.require_account_id() AND f.name = 'Import source';
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
ROLLBACK;
SQL
}

# import_csv, with the backend's RssAnon sampled every 0.1 s
csv_ms_peak() {
    local pidf=$XW/pid peakf=$XW/peak
    : > "$pidf"; echo 0 > "$peakf"
    ( while [ ! -s "$pidf" ]; do sleep 0.05; done
      pid=$(cat "$pidf"); peak=0
      while [ -d /proc/$pid ] && [ ! -f "$XW/done" ]; do
          v=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
          [ "${v:-0}" -gt "$peak" ] && peak=$v && echo "$peak" > "$peakf"
          sleep 0.1
      done ) &
    local sampler=$!
    rm -f "$XW/done"
    local t
    t=$(q <<SQL | tail -1
SELECT pg_backend_pid() \g $pidf
BEGIN;
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM customercard.import_csv($CSV) WHERE status = 'created';
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
ROLLBACK;
SQL
)
    touch "$XW/done"; wait $sampler 2>/dev/null || true
    echo "$t $(cat "$peakf")"
}

ROWPATH="DO \$r\$ DECLARE r record; BEGIN
    FOR r IN SELECT * FROM customercard.import_rows(convert_to($CSV, 'UTF8'), 'csv') WHERE line <= $ROW_ROWS + 1 ORDER BY line LOOP
        BEGIN
            PERFORM customercard.import_upsert(r.data, '{}');
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR undefined_object THEN NULL;
        END;
    END LOOP; END \$r\$"

cs=(); fl=(); rp=(); peaks=()
for r in $(seq 1 "$ROUNDS"); do
    read -r t p < <(csv_ms_peak); cs+=("$t"); peaks+=("$p")
    fl+=("$(floor_ms)")
    rp+=("$(ms "$ROWPATH")")
done
c=$(median "${cs[@]}"); f=$(median "${fl[@]}"); rr=$(median "${rp[@]}")
echo "== importing $ROWS new contacts (name, phone, e-mail, two tags, a custom field) into $BENCH_CONTACTS, median of $ROUNDS"
printf '   import_csv (import_set)                      %8s rows/s  (%s ms; %s)\n' "$(rate "$ROWS" "$c")" "$c" "${cs[*]}"
printf '   floor: COPY + INSERT ... SELECT per section  %8s rows/s  (%s ms; %s)\n' "$(rate "$ROWS" "$f")" "$f" "${fl[*]}"
printf '   row path (0.2: import_upsert a row, %s rows)  %8s rows/s  (%s ms; %s)\n' "$ROW_ROWS" "$(rate "$ROW_ROWS" "$rr")" "$rr" "${rp[*]}"
echo "   import_csv / floor: $(ratio "$c" "$f")x (target <= 2)   import_csv rate / row path rate: $(ratio "$(rate "$ROWS" "$c")" "$(rate "$ROW_ROWS" "$rr")")x (target >= 10)"
echo "   peak RssAnon of the importing backend: $(( $(median "${peaks[@]}") / 1024 )) MB (file: $(( $(stat -c %s "$XW/rows.csv") / 1024 / 1024 )) MB)"
t=$(ms "INSERT INTO customercard.accounts (name) VALUES ('bench new account') RETURNING account_id AS new_account \\gset
SELECT set_config('customercard.account_id', :'new_account', true);
INSERT INTO customercard.custom_fields (name) VALUES ('Import source');
SELECT clock_timestamp() AS t0 \\gset
SELECT count(*) FROM customercard.import_csv($CSV) WHERE status = 'created'")
printf '   import_csv into a new account                %8s rows/s  (%s ms), / import_csv: %sx\n' "$(rate "$ROWS" "$t")" "$t" "$(ratio "$t" "$c")"

if [ -n "$FORMATS" ]; then
    JSON="(SELECT doc FROM public.bench_import_doc WHERE kind = 'json')"
    XLSX="(SELECT doc FROM public.bench_import_xlsx)"
    QUEUE="DO \$q\$ DECLARE j bigint := customercard.import_enqueue(convert_to($CSV, 'UTF8'), 'csv');
          BEGIN WHILE customercard.bulk_run_batch(customercard.require_account_id(), j, 2000) > 0 LOOP END LOOP; END \$q\$"
    for fmt in $FORMATS; do
        case $fmt in
        json)
            q >/dev/null <<SQL
DELETE FROM public.bench_import_doc WHERE kind = 'json';
INSERT INTO public.bench_import_doc
SELECT 'json', json_agg(json_build_object('name', 'Import ' || i, 'phones', json_build_array('+7 958 ' || lpad(i::text, 7, '0')),
                                  'emails', json_build_array('import' || i || '@bench.example'),
                                  'tags', json_build_array('imported', 'batch ' || (i % 10)),
                                  'custom', json_build_object('Import source', 'fair ' || (i % 7))))::text
  FROM generate_series(1, $ROWS) i;
SQL
            t=$(ms "SELECT count(*) FROM customercard.import_json($JSON) WHERE status = 'created'") ;;
        xlsx)
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
            t=$(ms "SELECT count(*) FROM customercard.import_xlsx($XLSX) WHERE status = 'created'") ;;
        queue)
            t=$(ms "$QUEUE") ;;
        esac
        printf '   %-44s %8s rows/s  (%s ms), / import_csv: %sx (target for xlsx and the queue: <= 1.3)\n' \
            "$fmt" "$(rate "$ROWS" "$t")" "$t" "$(ratio "$t" "$c")"
    done
fi

# the application's one-card path beside the imports
bench_latency_function
lat=$(q <<SQL | tail -1
BEGIN;
SELECT round(p50::numeric, 3) || ' ' || round(p95::numeric, 3) FROM public.bench_latency(
    'SELECT customercard.upsert_contact(\$1::jsonb)',
    ARRAY(SELECT jsonb_build_object('name', 'Upsert ' || i, 'phones', jsonb_build_array('+7 959 ' || lpad(i::text, 7, '0')),
                                    'emails', jsonb_build_array('upsert' || i || '@bench.example'), 'tags', jsonb_build_array('api'))::text
            FROM generate_series(1, 500) i), false);
ROLLBACK;
SQL
)
echo "   upsert_contact of a new contact: p50 ${lat% *} ms, p95 ${lat#* } ms (target p50 <= 1 ms at 1M)"
