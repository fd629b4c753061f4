#!/usr/bin/env bash
# customercard on a Citus coordinator, its tables not distributed: CREATE
# EXTENSION reaches both workers at the same version, and the card works as
# on one node beside Citus's planner and executor hooks (every section filled
# through the API, a merge and its undo, bulk jobs, a dump of every row
# read back, an export).  Prints TAP.  Needs
# PGHOST/PGPORT of the coordinator, CITUS_DB and CITUS_WORKER_PORTS
# (test/scripts/run_citus_tests.sh sets them).
set -euo pipefail
source "$(dirname "$0")/../scripts/citus.sh"
source "$(dirname "$0")/../shell/lib/cards.sh"
DB=cc_local
trap 'for p in $PGPORT $CITUS_WORKER_PORTS; do psql -X -q -p $p -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1; done' EXIT
citus_create_db "$CITUS_DIR" $DB
q $DB -c "SET citus.enable_ddl_propagation = off" -c "CREATE EXTENSION pg_cron" 2>/dev/null || true
echo "1..7"

q $DB -c "CREATE EXTENSION customercard CASCADE" 2>/dev/null
want=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/customercard.control")
got=""
for p in $CITUS_WORKER_PORTS; do got="$got $(psql -X -At -p "$p" -d $DB -c "SELECT extversion FROM pg_extension WHERE extname = 'customercard'")"; done
ok "$got" " $want $want" "CREATE EXTENSION customercard on the coordinator creates it on both workers, at $want"
ok "$(q $DB -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'customercard.%'")" 0 \
   "before distribution no customercard table is distributed"

fill_full_account $DB
ok "$(q $DB -c "SELECT count(*) FROM customercard.card")" 299 "every section filled through the API: 299 live cards of the default account (300 made, one merged away)"
ok "$(q $DB -c "SELECT (customercard.card_json(4) -> 'card' ->> 'contact_id')")" 3 "card_json of the merged contact gives its survivor's card"
mid=$(q $DB -c "SELECT merge_id FROM customercard.merges WHERE absorbed_id = 4")
q $DB -c "SELECT customercard.unmerge($mid)" >/dev/null
ok "$(q $DB -c "SELECT count(*) FROM customercard.card")" 300 "unmerge gives the absorbed card back"
ok "$(q $DB -c "SELECT string_agg(action || ' ' || status || ' ' || done || '+' || failed || '/' || total, ', ' ORDER BY job) FROM customercard.bulk_progress")" \
   "create_channel done 202+97/299, export done 299+0/299" \
   "bulk jobs ran to the end, with the same counts as on one node"
ok "$(q $DB -c "SELECT count(*) FROM customercard.export_rows('{}')")" 300 "the export reads every live card"
