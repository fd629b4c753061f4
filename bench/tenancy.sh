#!/usr/bin/env bash
# bench/tenancy.sh: what row-level security and the account check cost.
# The same workloads, side by side in one cluster: as the superuser (RLS
# bypassed, account from the default) and as a manager bound to the
# account (every table reference filtered by current_account_id()).
#   BENCH_CONTACTS=1000000 bash bench/tenancy.sh
source "$(dirname "$0")/lib.sh"
bench_cluster
SECS=${BENCH_SECONDS:-10}
psql -X -q -d bench >/dev/null <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cc_bench_manager') THEN
        CREATE ROLE cc_bench_manager LOGIN IN ROLE customercard_manager;
    END IF;
END $$;
SELECT customercard.bind_role('cc_bench_manager', (SELECT account_id FROM customercard.accounts WHERE is_default));
SQL
max=$(psql -X -At -d bench -c "SELECT max(contact_id) FROM customercard.contacts")
min=$(psql -X -At -d bench -c "SELECT min(contact_id) FROM customercard.contacts")
emax=$(psql -X -At -d bench -c "SELECT max(contact_id) FROM customercard.emails")
W=$(mktemp -d)
cat > $W/card_json.sql <<SQL
\set id random($min, $max)
SELECT customercard.card_json(:id);
SQL
cat > $W/card_row.sql <<SQL
\set id random($min, $max)
SELECT * FROM customercard.card WHERE contact_id = :id;
SQL
cat > $W/upsert.sql <<SQL
\set id random($min, $emax)
SELECT customercard.upsert_contact(jsonb_build_object('email', (SELECT email FROM customercard.emails
    WHERE account_id = customercard.current_account_id() AND contact_id >= :id
    ORDER BY contact_id LIMIT 1), 'note', 'seen'));
SQL
# every query filters account_id (the Citus rule): without it the superuser,
# who bypasses RLS, cannot use the (account_id, contact_id) key
cat > $W/update.sql <<SQL
\set id random($min, $max)
UPDATE customercard.contacts SET note = 'bench ' || :id
 WHERE account_id = customercard.current_account_id() AND contact_id = :id;
SQL
ROUNDS=${BENCH_ROUNDS:-3}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "== $BENCH_CONTACTS contacts, 1 client, ${SECS}s runs, median of $ROUNDS interleaved rounds after a warm-up"
echo "   superuser (no RLS) vs bound manager (RLS)"
printf "%-28s %12s %12s %8s\n" workload "superuser" "manager" "ratio"
for w in card_json card_row upsert update; do
    pgbench_tps postgres $W/$w.sql 3 >/dev/null      # warm the caches for both
    declare -a su=() mg=()
    for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then
            su+=("$(pgbench_tps postgres $W/$w.sql $SECS)"); mg+=("$(pgbench_tps cc_bench_manager $W/$w.sql $SECS)")
        else
            mg+=("$(pgbench_tps cc_bench_manager $W/$w.sql $SECS)"); su+=("$(pgbench_tps postgres $W/$w.sql $SECS)")
        fi
    done
    msu=$(printf '%s\n' "${su[@]}" | median); mmg=$(printf '%s\n' "${mg[@]}" | median)
    printf "%-28s %9.1f tps %9.1f tps %8s\n" "$w" "$msu" "$mmg" "$(ratio $mmg $msu)"
done
rm -rf $W
echo "(ratio = manager TPS / superuser TPS; 1.0 means RLS costs nothing)"
