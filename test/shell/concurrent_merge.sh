#!/usr/bin/env bash
# Merges at the same moment: two sessions merge the same pairs in
# opposite directions, two more build overlapping chains, and a fifth
# session updates the same contacts in the opposite lock order.  No merge
# caller may see a deadlock error; of two opposite merges one wins and the
# other is told the contact is now a tombstone; no row is lost.  Prints TAP.
# Needs PGHOST/PGPORT/PGUSER of a cluster.
set -euo pipefail
DB=cc_concurrent_merge
K=${MERGE_PAIRS:-150}
trap 'dropdb --if-exists $DB >/dev/null 2>&1' EXIT
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
q -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
# 2K contacts for the pairs, 3K for the chains; each with an order, a tag and a phone
q <<SQL >/dev/null
INSERT INTO customercard.tags (name) VALUES ('t');
INSERT INTO customercard.contacts (contact_id, name) SELECT i, 'Person ' || i FROM generate_series(1, 5 * $K) i;
SELECT setval('customercard.contacts_contact_id_seq', 5 * $K);
INSERT INTO customercard.orders (contact_id, number, offer, amount) SELECT i, 'N' || i, 'Offer', i FROM generate_series(1, 5 * $K) i;
INSERT INTO customercard.contact_tags (contact_id, tag_id) SELECT i, (SELECT tag_id FROM customercard.tags) FROM generate_series(1, 5 * $K) i;
INSERT INTO customercard.phones (contact_id, phone, raw) SELECT i, '+7 900 ' || lpad(i::text, 7, '0'), 'p' FROM generate_series(1, 5 * $K) i;
SQL
W=$(mktemp -d)
for i in $(seq 1 $K); do
    x=$((2 * i - 1)); y=$((2 * i))
    echo "SELECT customercard.merge($x, $y);" >> $W/a.sql
    echo "SELECT customercard.merge($y, $x);" >> $W/b.sql
    echo "BEGIN; UPDATE customercard.contacts SET note = 'busy' WHERE contact_id = $y; UPDATE customercard.contacts SET note = 'busy' WHERE contact_id = $x; COMMIT;" >> $W/e.sql
    p=$((2 * K + 3 * i - 2)); m=$((p + 1)); r=$((p + 2))
    echo "SELECT customercard.merge($p, $m);" >> $W/c.sql
    echo "SELECT customercard.merge($m, $r);" >> $W/d.sql
done
echo "1..6"
for s in a b c d e; do psql -X -q -At -d $DB -f $W/$s.sql > $W/$s.out 2>&1 & eval "p_$s=$!"; done
for s in a b c d e; do eval "wait \$p_$s" || true; done

dead=$(cat $W/a.out $W/b.out $W/c.out $W/d.out | grep -c 'deadlock' || true)
[ "$dead" = 0 ] && echo "ok 1 - no merge caller saw a deadlock error" || { echo "not ok 1 - $dead deadlock errors reached merge callers"; grep -h deadlock $W/*.out | head -3 | sed 's/^/# /'; }
won=$(q -c "SELECT count(*) FROM customercard.merges WHERE survivor_id <= 2 * $K")
[ "$won" = "$K" ] && echo "ok 2 - of two opposite merges of a pair exactly one won ($K pairs)" || echo "not ok 2 - $won merges for $K pairs"
other=$(cat $W/a.out $W/b.out | grep '^ERROR' | grep -vc 'was merged into contact' || true)
lost=$(cat $W/a.out $W/b.out | grep -c 'was merged into contact' || true)
[ "$other" = 0 ] && [ "$lost" = "$K" ] && echo "ok 3 - the other one was told the contact is a tombstone now" \
    || { echo "not ok 3 - $lost tombstone errors, $other other errors"; grep -h '^ERROR' $W/a.out $W/b.out | grep -v 'was merged into' | head -3 | sed 's/^/# /'; }
bad=$(cat $W/c.out $W/d.out | grep '^ERROR' | grep -vc 'was merged into contact' || true)
[ "$bad" = 0 ] && echo "ok 4 - overlapping chains: each merge either ran or was refused for a tombstone" \
    || { echo "not ok 4 - $bad unexpected errors in the chains"; grep -h '^ERROR' $W/c.out $W/d.out | grep -v 'was merged into' | head -3 | sed 's/^/# /'; }
got=$(q -c "SELECT count(*) || '/' || sum(amount)::bigint FROM customercard.orders o JOIN customercard.contacts c USING (account_id, contact_id) WHERE c.merged_into IS NULL")
want="$((5 * K))/$((5 * K * (5 * K + 1) / 2))"
[ "$got" = "$want" ] && echo "ok 5 - every order is on a live contact, none lost ($got)" || echo "not ok 5 - orders on live contacts: $got, want $want"
got=$(q -c "SELECT (SELECT count(*) FROM customercard.phones p JOIN customercard.contacts c USING (account_id, contact_id) WHERE c.merged_into IS NULL)
              || '/' || (SELECT count(*) FROM customercard.contact_tags t JOIN customercard.contacts c USING (account_id, contact_id) WHERE c.merged_into IS NULL)
              || '/' || (SELECT count(*) FROM customercard.contacts WHERE merged_into IS NULL)")
live=$(q -c "SELECT count(*) FROM customercard.contacts WHERE merged_into IS NULL")
[ "$got" = "$((5 * K))/$live/$live" ] && echo "ok 6 - every phone kept, the tag once per live contact" || echo "not ok 6 - phones/tags/live: $got, want $((5 * K))/$live/$live"
rm -rf $W
