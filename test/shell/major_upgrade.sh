#!/usr/bin/env bash
# A major upgrade a DBA can do (docs/operations.md#a-new-postgresql-major):
# a cluster of the oldest major at hand (15) filled through the public API
# — every section, merges, a forgotten person, finished and queued bulk
# jobs with their journals, a second account, the runner scheduled with
# pg_cron — is taken to the newest major this suite runs on (18)
#  - by pg_upgrade in copy mode, and again with --link;
#  - by pg_dump (the new major's) and pg_restore into the new major;
# and each time every row of every table, every contact's card_json, the
# phones read back and found through their index, the pg_cron job and
# ALTER EXTENSION customercard UPDATE hold.  The comparison is not vacuous:
# a card changed on purpose is reported, after pg_upgrade and after the
# restore.
# Runs on the last major of the suite's run (CC_NEWEST_MAJOR; the newest at
# hand by itself) when an older one is at hand, else it says why it skips.  Prints TAP.  Builds customercard for the old
# major in a copy of the tree.
set -euo pipefail
source "$(dirname "$0")/lib/cards.sh"
source "$ROOT/test/scripts/lib.sh"
NEW=$PG_MAJOR
NEWBIN=$PGBIN
at_hand=$(majors_at_hand)
OLD=${at_hand%% *}
NEWEST=${CC_NEWEST_MAJOR:-${at_hand##* }}
if [ "$OLD" = "$NEW" ] || [ "$NEW" != "$NEWEST" ]; then
    echo "1..0 # SKIP runs on the newest major at hand ($NEWEST) with an older one to upgrade from; this is $NEW"
    exit 0
fi
OLDBIN=$(pg_bindir "$OLD")
DB=cc_major
DIR=$(mktemp -d /tmp/cc_major.XXXXXX)
as_root chown postgres:postgres "$DIR"; as_root chmod 755 "$DIR"
PORT_OLD=$(free_port); PORT_NEW=$(free_port)
pgas() { as_root runuser -u postgres -- "$@"; }
stop_all() {
    for d in old new; do
        [ -f "$DIR/$d/postmaster.pid" ] && pgas "$([ $d = old ] && echo "$OLDBIN" || echo "$NEWBIN")/pg_ctl" -D "$DIR/$d" -m immediate stop >/dev/null 2>&1
    done
    true
}
trap 'stop_all; as_root rm -rf "$DIR"' EXIT

# cluster BIN NAME PORT: initdb with the settings every test server runs
# with, pg_cron preloaded for database cc_major
cluster() {
    local bin=$1 name=$2 port=$3
    local sums=""
    # 18 turns data checksums on by default; pg_upgrade needs the old
    # cluster's setting (Debian's 15 has them off)
    [ "$("$bin/pg_config" --version | awk '{print int($2)}')" -ge 18 ] && sums=--no-data-checksums
    pgas "$bin/initdb" -D "$DIR/$name" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 $sums >/dev/null
    pgas tee -a "$DIR/$name/postgresql.conf" >/dev/null <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$DIR'
shared_preload_libraries = 'pg_cron'
cron.database_name = '$DB'
fsync = off
CONF
}
start() { pgas "$1/pg_ctl" -D "$DIR/$2" -l "$DIR/$2.log" -w start >/dev/null; }
stop() { pgas "$1/pg_ctl" -D "$DIR/$2" -m fast -w stop >/dev/null; }
on() { export PGHOST=$DIR PGPORT=$1 PGUSER=postgres; }

echo "1..15"

# customercard for the old major, built in a copy of the tree
src=$(mktemp -d /tmp/cc_major_src.XXXXXX)
cp -a "$ROOT/Makefile" "$ROOT/customercard.control" "$ROOT/src" "$ROOT/upgrade" "$ROOT/tools" "$src/"
( cd "$src" && make -s clean PG_CONFIG="$OLDBIN/pg_config" >/dev/null && make -s -j2 PG_CONFIG="$OLDBIN/pg_config" >/dev/null 2>&1 &&
  as_root make -s install PG_CONFIG="$OLDBIN/pg_config" >/dev/null ) || { echo "Bail out! customercard did not build for PostgreSQL $OLD"; exit 1; }
rm -rf "$src"

# the old cluster, filled through the public API
cluster "$OLDBIN" old "$PORT_OLD"; start "$OLDBIN" old; on "$PORT_OLD"
createdb $DB
q $DB -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION customercard CASCADE" 2>/dev/null
fill_full_account $DB
q $DB >/dev/null <<'SQL'
SELECT customercard.schedule_bulk_runner();
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "after the upgrade"}', filter => '{}', run_at => now() + interval '1 day');
SELECT customercard.bulk_undo((SELECT min(job_id) FROM customercard.bulk_jobs WHERE action = 'create_channel'));
SQL
# what it holds: the rows, the cards (but the person's local time, the
# clock's), the phones as text, one phone's owner found through the index
cards_of() {
    q $DB -c "SELECT string_agg(a.account_id || ':' || c.contact_id || ':' ||
                              md5(customercard.card_json(c.contact_id) #- '{card,local_time}' #>> '{}'), E'\n' ORDER BY 1)
                FROM customercard.accounts a, LATERAL (SELECT set_config('customercard.account_id', a.account_id::text, true)) s,
                     LATERAL (SELECT contact_id FROM customercard.contacts c WHERE c.account_id = a.account_id) c"
}
phones_of() { q $DB -c "SELECT count(*) || ' ' || md5(string_agg(phone::text || customercard.phone_region(phone), ',' ORDER BY phone_id)) FROM customercard.phones"; }
probe=$(q $DB -c "SELECT phone::text FROM customercard.phones WHERE account_id = 1 ORDER BY phone_id LIMIT 1")
lookup() {
    q $DB -c "SET customercard.account_id = 1" -c "SET search_path = public, customercard" \
          -c "SET enable_seqscan = off" -c "SET enable_bitmapscan = off" \
          -c "SELECT string_agg(contact_id::text, ',' ORDER BY contact_id) FROM customercard.phones WHERE phone = '$probe'" \
          -c "EXPLAIN (COSTS OFF) SELECT contact_id FROM customercard.phones WHERE phone = '$probe'" | grep -c -e '^[0-9,]*$' -e 'Index' | tr -d '\n'
    q $DB -c "SET customercard.account_id = 1" -c "SET search_path = public, customercard" \
          -c "SELECT string_agg(contact_id::text, ',' ORDER BY contact_id) FROM customercard.phones WHERE phone = '$probe'"
}
cron_of() { q $DB -c "SELECT string_agg(jobname || ' ' || schedule || ' ' || command, '; ' ORDER BY jobname) FROM cron.job"; }
rows0=$(fingerprint $DB); cards0=$(cards_of); phones0=$(phones_of); lookup0=$(lookup); cron0=$(cron_of)
ncards=$(echo "$cards0" | wc -l)
echo "# PostgreSQL $OLD -> $NEW: $ncards cards, $(echo "$rows0" | wc -l) tables, phone probe $probe"

# what the new major reads as the old one wrote it
check() {   # check HOW
    ok "$(fingerprint $DB)" "$rows0" "$1: every row of every table is as it was"
    ok "$(cards_of)" "$cards0" "$1: every contact's card_json is as it was ($ncards cards)"
    ok "$(phones_of) | $(lookup)" "$phones0 | $lookup0" "$1: the phones read back, and a lookup finds its contacts through the index"
}

# the new major's pg_dump of the old cluster, for step 2
"$NEWBIN/pg_dump" -Fc -f "$DIR/dump" $DB

# Debian's 15 stores an attribute option pg_attver on the columns it makes,
# which 18 refuses: it goes first (the DBA's step, docs/operations.md)
for d in $DB postgres template1; do q $d -f "$ROOT/tools/pg_attver_reset.sql" >/dev/null; done
stop "$OLDBIN" old

# 1. pg_upgrade, copy mode
cluster "$NEWBIN" new "$PORT_NEW"
( cd "$DIR" && pgas "$NEWBIN/pg_upgrade" -b "$OLDBIN" -B "$NEWBIN" -d "$DIR/old" -D "$DIR/new" -U postgres \
      --socketdir="$DIR" -p "$PORT_OLD" -P "$PORT_NEW" --copy > "$DIR/upgrade-copy.log" 2>&1 ) \
    || { sed 's/^/# /' "$DIR/upgrade-copy.log" | tail -30; }
start "$NEWBIN" new; on "$PORT_NEW"
ok "$(q $DB -c "SELECT current_setting('server_version_num')::int / 10000")" "$NEW" "pg_upgrade (copy) took the cluster to PostgreSQL $NEW"
check "pg_upgrade $OLD -> $NEW (copy)"
# (the old major's pg_cron, 1.4 on Debian 12, is updated to the new one's)
q $DB -c "SET client_min_messages = warning" -c "ALTER EXTENSION pg_cron UPDATE" >/dev/null
ok "$(cron_of)" "$cron0" "pg_upgrade (copy): the bulk runner's pg_cron schedule is there, pg_cron updated"
ok "$(q $DB -c "SET client_min_messages = warning" -c "ALTER EXTENSION customercard UPDATE" 2>&1; q $DB -c "SELECT extversion FROM pg_extension WHERE extname = 'customercard'")" \
   "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/customercard.control")" \
   "pg_upgrade (copy): ALTER EXTENSION customercard UPDATE afterwards, at the current version"
# not vacuous: one field of one card changed is one card reported
q $DB -c "SET customercard.account_id = 1" -c "UPDATE customercard.contacts SET city = 'Changed on purpose' WHERE contact_id = (SELECT min(contact_id) FROM customercard.contacts WHERE account_id = 1 AND merged_into IS NULL AND forgotten_at IS NULL AND contact_id NOT IN (SELECT merged_into FROM customercard.contacts WHERE merged_into IS NOT NULL))" >/dev/null
ok "$(diff <(echo "$cards0") <(cards_of) | grep -c '^>' || true)" 1 "the comparison reports a card with one field changed"

# 2. that pg_dump (taken before the step above), restored into the new major
# (FORCE: pg_cron's launcher is connected to it)
q postgres -c "DROP DATABASE $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
# pg_cron 1.6 lives in pg_catalog, 1.4 lived in public: it is made first
# and the dump's CREATE EXTENSION of it left out (docs/operations.md)
q $DB -c "CREATE EXTENSION pg_cron"
"$NEWBIN/pg_restore" -l "$DIR/dump" | grep -v -E ' (EXTENSION|COMMENT) - (EXTENSION )?pg_cron$' > "$DIR/dump.list"
out=$("$NEWBIN/pg_restore" --exit-on-error -L "$DIR/dump.list" -d $DB "$DIR/dump" 2>&1) || echo "$out" | sed 's/^/# /' | tail -20
check "pg_dump $OLD -> pg_restore $NEW"
ok "$(cron_of)" "$cron0" "pg_dump/pg_restore: the pg_cron schedule came along"
q $DB -c "SET customercard.account_id = 1" -c "UPDATE customercard.phones SET kind = 'work' WHERE phone_id = (SELECT min(phone_id) FROM customercard.phones WHERE account_id = 1 AND kind <> 'work' AND contact_id NOT IN (SELECT merged_into FROM customercard.contacts WHERE merged_into IS NOT NULL))" >/dev/null
ok "$(diff <(echo "$cards0") <(cards_of) | grep -c '^>' || true) $(test "$(fingerprint $DB)" = "$rows0" && echo same || echo reported)" "1 reported" \
   "pg_dump/pg_restore: a phone's kind changed on purpose is reported, in its card and in the rows"
stop "$NEWBIN" new; as_root rm -rf "$DIR/new"

# 3. pg_upgrade --link (the old cluster is given up to it)
cluster "$NEWBIN" new "$PORT_NEW"
( cd "$DIR" && pgas "$NEWBIN/pg_upgrade" -b "$OLDBIN" -B "$NEWBIN" -d "$DIR/old" -D "$DIR/new" -U postgres \
      --socketdir="$DIR" -p "$PORT_OLD" -P "$PORT_NEW" --link > "$DIR/upgrade-link.log" 2>&1 ) \
    || { sed 's/^/# /' "$DIR/upgrade-link.log" | tail -30; }
start "$NEWBIN" new; on "$PORT_NEW"
check "pg_upgrade $OLD -> $NEW (--link)"
