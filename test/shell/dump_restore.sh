#!/usr/bin/env bash
# pg_dump / pg_restore keeps every row of every customercard table, the
# sequences (new ids do not collide), a changed default account and the
# card itself.  Prints TAP.  Needs PGHOST/PGPORT/PGUSER of a cluster.
set -euo pipefail
source "$(dirname "$0")/lib/cards.sh"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SRC=cc_dump_src DST=cc_dump_dst
DUMP=$(mktemp /tmp/cc_dump.XXXXXX)
trap 'rm -f "$DUMP"; dropdb --if-exists $SRC; dropdb --if-exists $DST' EXIT

dropdb --if-exists $SRC; dropdb --if-exists $DST
createdb $SRC
q $SRC -c "CREATE EXTENSION customercard CASCADE"
fill_full_account $SRC

echo "1..6"
$PGBIN/pg_dump -Fc -f "$DUMP" $SRC
createdb $DST
$PGBIN/pg_restore --exit-on-error -d $DST "$DUMP"
echo "# restored"

# every table: the same rows, compared as ordered text
src_fp=$(fingerprint $SRC); dst_fp=$(fingerprint $DST)
ok "$dst_fp" "$src_fp" "every row of every table survives dump and restore"
ok "$(q $DST -c "SELECT count(*) || '/' || sum(points) FROM customercard.contacts WHERE account_id = 1")" \
   "$(q $SRC -c "SELECT count(*) || '/' || sum(points) FROM customercard.contacts WHERE account_id = 1")" \
   "the demo contacts and their points are back (the ledger trigger stood aside)"

ok "$(q $DST -c "SELECT name || '/' || default_region FROM customercard.accounts WHERE is_default")" "Школа Анны/KZ" \
   "the default account keeps its changed name and region"

id=$(q $SRC -c "SELECT min(contact_id) FROM customercard.contacts WHERE account_id = 1")
# (but the person's local time, which is now's)
card_now="SELECT jsonb_set(customercard.card_json($id), '{card,local_time}', 'null')::text"
ok "$(q $DST -c "$card_now")" "$(q $SRC -c "$card_now")" \
   "card_json of a contact is the same after restore"

max=$(q $DST -c "SELECT max(contact_id) FROM customercard.contacts")
new=$(q $DST -c "SELECT customercard.upsert_contact('{\"name\": \"After restore\"}')")
ok "$([ "$new" -gt "$max" ] && echo yes || echo "no: $new <= $max")" yes "sequences are restored: a new contact gets a fresh id"

ok "$(q $DST -c "SET customercard.account_id = 2; SELECT count(*) FROM customercard.card")" 1 \
   "the second account's cards are there"
