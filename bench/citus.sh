#!/usr/bin/env bash
# bench/citus.sh: per-account work on Citus (a coordinator and two workers on
# this machine) beside one node, in the same run and build (the target: single-
# account latency <= 1.5x one node; throughput of many accounts grows with
# the workers).  Each side gets the same data: ACCOUNTS accounts (default 20)
# of CONTACTS contacts each (default 200) written through upsert_contact, and
# one account with 10,000 more contacts.  Printed, each as p50/p95 of ROUNDS
# calls (default 200) and the ratio Citus / one node:
#   - card_json of a random contact of account 1,
#   - upsert_contact of a new contact,
#   - one logged UPDATE of the 10,000-contact account (ROUNDS / 20 times),
#   - pgbench, 4 clients: mixed work (an upsert and a card read) spread over
#     the accounts, in SET LOCAL transactions; TPS and the ratio.
# Note: the three nodes share this machine's 2 cores, so the cluster's
# throughput here says nothing of more machines; it shows the overhead.
set -euo pipefail
source "$(dirname "$0")/../test/scripts/citus.sh"
ensure_deps
build_install
ensure_citus
ACCOUNTS=${ACCOUNTS:-20}
CONTACTS=${CONTACTS:-200}
ROUNDS=${ROUNDS:-200}
SECS=${BENCH_SECONDS:-15}
ONE=$(mktemp -d /tmp/cc-bench-one.XXXXXX)
CLU=$(mktemp -d /tmp/cc-bench-citus.XXXXXX)
trap 'stop_cluster "$ONE"; stop_citus_cluster "$CLU"' EXIT
start_cluster "$ONE" "$(free_port)"
ONE_HOST=$PGHOST ONE_PORT=$PGPORT
citus_cluster "$CLU"
CLU_HOST=$PGHOST CLU_PORT=$PGPORT
DB=cc_bench

# side HOST PORT [DISTRIBUTE]: the same data on a node or the cluster
setup() {
    local host=$1 port=$2 dist=${3:-}
    if [ -n "$dist" ]; then citus_create_db "$CLU" $DB; else psql -X -q -h "$host" -p "$port" -d postgres -c "CREATE DATABASE $DB"; fi
    psql -X -q -h "$host" -p "$port" -d $DB -c "CREATE EXTENSION customercard CASCADE" 2>/dev/null
    [ -n "$dist" ] && psql -X -q -h "$host" -p "$port" -d $DB -c "SELECT count(*) FROM customercard.distribute_on_citus()" >/dev/null 2>&1
    psql -X -q -h "$host" -p "$port" -d $DB >/dev/null <<SQL
DO \$\$ BEGIN CREATE ROLE cc_bench_app LOGIN IN ROLE customercard_app, customercard_admin; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
SELECT customercard.create_account('shop ' || g, 'RU', 'RUB') FROM generate_series(2, $ACCOUNTS) g;
SQL
    for a in $(seq 1 $ACCOUNTS); do
        { echo "BEGIN; SET LOCAL customercard.account_id = $a; SET LOCAL customercard.actor = 'bench';"
          for i in $(seq 1 $CONTACTS); do
              echo "SELECT customercard.upsert_contact('{\"name\": \"Contact $a-$i\", \"phones\": [\"+7912$(printf '%03d%04d' $a $i)\"], \"emails\": [\"c$a.$i@example.ru\"], \"tags\": [\"t$((i % 7))\"]}');"
          done
          echo "COMMIT;"; } | psql -X -q -h "$host" -p "$port" -U cc_bench_app -d $DB >/dev/null
    done
    # (as the owner: Citus sends INSERT ... SELECT on as COPY, which row-level security refuses)
    psql -X -q -h "$host" -p "$port" -d $DB >/dev/null <<SQL
BEGIN; SET LOCAL customercard.account_id = 1;
INSERT INTO customercard.contacts (account_id, name) SELECT 1, 'Mass ' || g FROM generate_series(1, 10000) g;
COMMIT;
-- planner statistics, as autovacuum would give them (without, the 10,000
-- rows just added read as one, and related_contacts' plan walks them all)
ANALYZE;
SQL
}

# stats FILE: p50 p95 of the times (ms) in FILE
stats() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%.2f %.2f", a[int(NR*0.5)+1], a[int(NR*0.95)+1]}'; }

# latency HOST PORT SQL N OUT: N timed statements, each its own SET LOCAL transaction
latency() {
    local host=$1 port=$2 sql=$3 n=$4 out=$5
    { echo '\timing on'
      for i in $(seq 1 $n); do echo "BEGIN; SET LOCAL customercard.account_id = 1; SET LOCAL customercard.actor = 'bench';"; echo "$sql" | sed "s/@I@/$i/g"; echo "COMMIT;"; done
    } | psql -X -q -h "$host" -p "$port" -U cc_bench_app -d $DB 2>&1 | awk '/^Time:/ {print $2}' > "$out.all"
    # every fourth timing is the statement's (BEGIN, two SETs, statement, COMMIT: five; keep the fourth)
    awk 'NR % 5 == 4' "$out.all" > "$out"
}

echo "== one node and a coordinator + 2 workers on this machine; $ACCOUNTS accounts x $CONTACTS contacts, one with 10,000 more"
setup "$ONE_HOST" "$ONE_PORT"
setup "$CLU_HOST" "$CLU_PORT" distribute
W=$(mktemp -d /tmp/cc-bench-w.XXXXXX)
ids=$(psql -X -At -h "$ONE_HOST" -p "$ONE_PORT" -d $DB -c "SELECT min(contact_id) || ' ' || max(contact_id) FROM customercard.contacts WHERE account_id = 1 AND name LIKE 'Contact%'")
lo=${ids% *}; hi=${ids#* }
pick="SELECT customercard.card_json(($lo + (hashint4(@I@) & 2147483647) % ($hi - $lo + 1))::bigint) IS NOT NULL;"
upsert="SELECT customercard.upsert_contact('{\"name\": \"New @I@\", \"emails\": [\"new.@I@.$RANDOM@example.ru\"]}');"
update="UPDATE customercard.contacts SET city = 'City @I@' WHERE account_id = 1 AND name LIKE 'Mass%';"
for side in one clu; do
    host=$([ $side = one ] && echo "$ONE_HOST" || echo "$CLU_HOST"); port=$([ $side = one ] && echo "$ONE_PORT" || echo "$CLU_PORT")
    latency "$host" "$port" "$pick" 20 "$W/warm"          # warm-up
    latency "$host" "$port" "$pick" $ROUNDS "$W/$side.card"
    latency "$host" "$port" "$upsert" $ROUNDS "$W/$side.upsert"
    latency "$host" "$port" "$update" $((ROUNDS / 20)) "$W/$side.update"
done
report() {
    read -r a1 a2 <<<"$(stats "$W/one.$1")"; read -r b1 b2 <<<"$(stats "$W/clu.$1")"
    printf '  %-34s one node p50 %8s p95 %8s ms | Citus p50 %8s p95 %8s ms | ratio p50 %.2fx p95 %.2fx\n' \
        "$2" "$a1" "$a2" "$b1" "$b2" "$(echo "$b1 / $a1" | bc -l)" "$(echo "$b2 / $a2" | bc -l)"
}
echo "== single-account latency (target: Citus <= 1.5x one node)"
report card "card_json"
report upsert "upsert_contact"
report update "10,000-row logged UPDATE"

cat > "$W/mixed.sql" <<SQL
\set acct random(1, $ACCOUNTS)
\set n random(1, 1000000000)
BEGIN;
SET LOCAL customercard.account_id = :acct;
SET LOCAL customercard.actor = 'bench';
SELECT customercard.upsert_contact(('{"name": "P ' || :n || '", "emails": ["p' || :n || '@example.ru"]}')::jsonb);
SELECT count(*) FROM customercard.card_channels WHERE account_id = :acct AND contact_id = :n;
COMMIT;
SQL
tps() { $PGBIN/pgbench -n -h "$1" -p "$2" -U cc_bench_app -c 4 -j 2 -T $SECS -f "$W/mixed.sql" $DB 2>/dev/null | awk '/^tps/ {print $3}'; }
one_tps=$(tps "$ONE_HOST" "$ONE_PORT"); clu_tps=$(tps "$CLU_HOST" "$CLU_PORT")
echo "== mixed work over $ACCOUNTS accounts, pgbench 4 clients, ${SECS}s"
printf '  one node %s tps | Citus %s tps | ratio %.2fx (all three nodes share these 2 cores)\n' "$one_tps" "$clu_tps" "$(echo "$clu_tps / $one_tps" | bc -l)"
rm -rf "$W"
