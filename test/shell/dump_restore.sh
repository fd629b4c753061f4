#!/usr/bin/env bash
# pg_dump / pg_restore keeps every row of every customercard table, the
# sequences (new ids do not collide), a changed default account and the
# card itself.  Prints TAP.  Needs PGHOST/PGPORT/PGUSER of a cluster.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
SRC=cc_dump_src DST=cc_dump_dst
DUMP=$(mktemp /tmp/cc_dump.XXXXXX)
trap 'rm -f "$DUMP"; dropdb --if-exists $SRC; dropdb --if-exists $DST' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$@"; }
n=0
ok() { n=$((n + 1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got:  $1"; echo "#   want: $2"; fi; }

dropdb --if-exists $SRC; dropdb --if-exists $DST
createdb $SRC
q $SRC -c "CREATE EXTENSION customercard CASCADE"
q $SRC -f "$ROOT/bench/gen/demo_data.sql"
q $SRC -c "SELECT count(*) FROM customercard_demo.generate(300)" >/dev/null
q $SRC >/dev/null <<'SQL'
-- the journals too: a merge, a pair kept apart, a forgotten person, bulk
-- jobs with failures and export output
SELECT customercard.not_duplicates(1, 2);
SELECT customercard.merge(3, 4);
SELECT customercard.forget_contact(5);
SELECT customercard.bulk_enqueue('create_channel', '{"kind": "email", "connection": "mailer"}', filter => '{}');
SELECT customercard.bulk_enqueue('export', filter => '{}');
SELECT customercard.bulk_run_batch(b.account_id, b.job_id, 100000) FROM customercard.bulk_jobs b, generate_series(1, 2) g;
UPDATE customercard.accounts SET name = 'Школа Анны', default_region = 'KZ' WHERE is_default;
SELECT customercard.create_account('Second shop', 'DE', 'EUR');
SET customercard.account_id = 2;
SELECT customercard.upsert_contact('{"name": "Zweiter Kunde", "emails": ["k@example.de"], "tags": ["neu"]}');
INSERT INTO customercard.action_log (contact_id, event, details)
SELECT contact_id, 'crm_exported', '{"crm": "amoCRM"}' FROM customercard.contacts WHERE account_id = 2;
SQL

echo "1..6"
$PGBIN/pg_dump -Fc -f "$DUMP" $SRC
createdb $DST
$PGBIN/pg_restore --exit-on-error -d $DST "$DUMP"
echo "# restored"

# every table: the same rows, compared as ordered text
fingerprint() {
    q "$1" <<'SQL'
SELECT string_agg(c.relname || '=' || (xpath('/row/c/text()',
           query_to_xml(format('SELECT count(*) || '':'' || coalesce(md5(string_agg(t::text, ''|'' ORDER BY t::text)), '''') AS c FROM customercard.%I t', c.relname),
                        false, true, '')))[1]::text, E'\n' ORDER BY c.relname)
  FROM pg_class c WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'r'
SQL
}
src_fp=$(fingerprint $SRC); dst_fp=$(fingerprint $DST)
ok "$dst_fp" "$src_fp" "every row of every table survives dump and restore"
ok "$(q $DST -c "SELECT count(*) || '/' || sum(points) FROM customercard.contacts WHERE account_id = 1")" \
   "$(q $SRC -c "SELECT count(*) || '/' || sum(points) FROM customercard.contacts WHERE account_id = 1")" \
   "the demo contacts and their points are back (the ledger trigger stood aside)"

ok "$(q $DST -c "SELECT name || '/' || default_region FROM customercard.accounts WHERE is_default")" "Школа Анны/KZ" \
   "the default account keeps its changed name and region"

id=$(q $SRC -c "SELECT min(contact_id) FROM customercard.contacts WHERE account_id = 1")
ok "$(q $DST -c "SELECT customercard.card_json($id)::text")" "$(q $SRC -c "SELECT customercard.card_json($id)::text")" \
   "card_json of a contact is the same after restore"

max=$(q $DST -c "SELECT max(contact_id) FROM customercard.contacts")
new=$(q $DST -c "SELECT customercard.upsert_contact('{\"name\": \"After restore\"}')")
ok "$([ "$new" -gt "$max" ] && echo yes || echo "no: $new <= $max")" yes "sequences are restored: a new contact gets a fresh id"

ok "$(q $DST -c "SET customercard.account_id = 2; SELECT count(*) FROM customercard.card")" 1 \
   "the second account's cards are there"
