#!/usr/bin/env bash
# bench/action_log.sh: what the action log costs.  Side by side in one cluster:
#   1. one UPDATE of 100,000 contacts (one changed field, so one log row each)
#      - with the C log trigger off (the baseline),
#      - with the C log trigger on,
#      - with a PL/pgSQL to_jsonb(OLD)/to_jsonb(NEW) audit trigger instead, the
#        usual way people log, into supa_audit's record_version layout: a
#        bigserial key, btree indexes on record_id, old_record_id and
#        table_oid, BRIN on ts (so a record's history can be looked up, which
#        our log's contact index is for); record ids are bigints here, where
#        supa_audit hashes them to uuid_v5, which would only make it slower;
#      - the floor: with the log trigger off, the UPDATE and then one
#        INSERT ... SELECT of the 100,000 log rows it implies, in one
#        transaction (what any log must at least do);
#      and, for scale, one INSERT of 100,000 log rows by itself.
#      Each variant runs ROUNDS times, interleaved, inside a rolled-back
#      transaction; the median is reported.
#   2. pgbench single-row updates, 2 clients, with and without the log,
#      interleaved rounds, median.
#   BENCH_CONTACTS=1000000 bash bench/action_log.sh   (the UPDATE touches 100,000 rows)
source "$(dirname "$0")/lib.sh"
bench_cluster
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-15}
ROWS=100000
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench "$@"; }

q >/dev/null <<'SQL'
CREATE TABLE IF NOT EXISTS public.bench_audit (
    id bigserial PRIMARY KEY, record_id bigint, old_record_id bigint, op text NOT NULL,
    ts timestamptz NOT NULL DEFAULT statement_timestamp(), table_oid oid NOT NULL,
    table_schema name NOT NULL, table_name name NOT NULL, record jsonb, old_record jsonb);
CREATE INDEX IF NOT EXISTS bench_audit_record_id ON public.bench_audit (record_id) WHERE record_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS bench_audit_old_record_id ON public.bench_audit (old_record_id) WHERE old_record_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS bench_audit_ts ON public.bench_audit USING brin (ts);
CREATE INDEX IF NOT EXISTS bench_audit_table_oid ON public.bench_audit (table_oid);
CREATE OR REPLACE FUNCTION public.bench_audit_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.bench_audit (record_id, old_record_id, op, table_oid, table_schema, table_name, record, old_record)
    VALUES (NEW.contact_id, OLD.contact_id, TG_OP, TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, to_jsonb(NEW), to_jsonb(OLD));
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS bench_audit ON customercard.contacts;
CREATE TRIGGER bench_audit AFTER UPDATE ON customercard.contacts FOR EACH ROW EXECUTE FUNCTION public.bench_audit_trigger();
ALTER TABLE customercard.contacts DISABLE TRIGGER bench_audit;
SQL
lo=$(q -c "SELECT min(contact_id) FROM customercard.contacts")
hi=$((lo + ROWS - 1))
UPDATE="UPDATE customercard.contacts SET note = 'bench ' || contact_id || ' ' || clock_timestamp()
         WHERE account_id = customercard.current_account_id() AND contact_id BETWEEN $lo AND $hi"
INSERT="INSERT INTO customercard.action_log (account_id, contact_id, event, details)
        SELECT account_id, contact_id, 'field_changed', jsonb_build_object('field', 'note', 'old', note, 'new', 'x')
          FROM customercard.contacts WHERE account_id = customercard.current_account_id() AND contact_id BETWEEN $lo AND $hi"

# run_ms SETUP STATEMENT: milliseconds of STATEMENT in a transaction that is rolled back
run_ms() {
    q -c "VACUUM customercard.contacts" -c "VACUUM customercard.action_log" >/dev/null 2>&1 || true
    q <<SQL | tail -1
BEGIN;
$1
SELECT clock_timestamp() AS t0 \gset
$2;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
ROLLBACK;
SQL
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

OFF="ALTER TABLE customercard.contacts DISABLE TRIGGER zz_log_change;"
ON=""
PLPGSQL="ALTER TABLE customercard.contacts DISABLE TRIGGER zz_log_change; ALTER TABLE customercard.contacts ENABLE TRIGGER bench_audit;"
declare -a off on plp ins flo
for r in $(seq "$ROUNDS"); do
    off+=("$(run_ms "$OFF" "$UPDATE")")
    flo+=("$(run_ms "$OFF" "$UPDATE; $INSERT")")
    on+=("$(run_ms "$ON" "$UPDATE")")
    plp+=("$(run_ms "$PLPGSQL" "$UPDATE")")
    ins+=("$(run_ms "" "$INSERT")")
done
m_off=$(printf '%s\n' "${off[@]}" | median); m_on=$(printf '%s\n' "${on[@]}" | median)
m_plp=$(printf '%s\n' "${plp[@]}" | median); m_ins=$(printf '%s\n' "${ins[@]}" | median)
m_flo=$(printf '%s\n' "${flo[@]}" | median)
echo "== UPDATE of $ROWS contacts (one field), median of $ROUNDS interleaved rounds"
printf "  %-44s %8s ms\n" "log trigger off (baseline)" "$m_off" "C log trigger on" "$m_on" \
    "floor: UPDATE + one INSERT ... SELECT of its log rows" "$m_flo" \
    "PL/pgSQL to_jsonb audit trigger instead" "$m_plp" "INSERT of $ROWS log rows alone (for scale)" "$m_ins"
echo "  with the log / without:        $(ratio "$m_on" "$m_off")x   (target <= 2.2)"
echo "  with the log / the floor:      $(ratio "$m_on" "$m_flo")x   (target <= 1.25)"
echo "  PL/pgSQL audit / C log:        $(ratio "$m_plp" "$m_on")x   (target >= 2.5; supa_audit layout)"
echo "  log rows alone / UPDATE alone: $(ratio "$m_ins" "$m_off")x   (what writing the rows costs by itself)"

W=$(mktemp -d)
cat > $W/update.sql <<SQL
\set id random($lo, $hi)
UPDATE customercard.contacts SET note = 'tps ' || :id
 WHERE account_id = customercard.current_account_id() AND contact_id = :id;
SQL
declare -a tps_off tps_on
for r in $(seq "$ROUNDS"); do
    q -c "ALTER TABLE customercard.contacts DISABLE TRIGGER zz_log_change" >/dev/null
    tps_off+=("$(pgbench_tps postgres $W/update.sql "$SECS" 2)")
    q -c "ALTER TABLE customercard.contacts ENABLE TRIGGER zz_log_change" >/dev/null
    tps_on+=("$(pgbench_tps postgres $W/update.sql "$SECS" 2)")
done
t_off=$(printf '%s\n' "${tps_off[@]}" | median); t_on=$(printf '%s\n' "${tps_on[@]}" | median)
rm -rf $W
echo "== pgbench single-row updates, 2 clients, ${SECS}s runs, median of $ROUNDS interleaved rounds"
printf "  %-44s %8s tps\n" "without the log" "$t_off" "with the log" "$t_on"
echo "  with / without:                $(ratio "$t_on" "$t_off")x   (target >= 0.85)"
q -c "ALTER TABLE customercard.contacts ENABLE TRIGGER zz_log_change" >/dev/null
