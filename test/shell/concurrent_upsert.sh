#!/usr/bin/env bash
# Two sessions upsert the same people at the same moment, in opposite
# orders, each person known by e-mail in one call and by e-mail plus phone
# in the other: every person must end up as exactly one contact, with no
# deadlock error.  Prints TAP.  Needs PGHOST/PGPORT/PGUSER of a cluster.
set -euo pipefail
DB=cc_concurrent
N=800
trap 'dropdb --if-exists $DB >/dev/null 2>&1' EXIT
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
psql -X -q -d $DB -c "CREATE EXTENSION customercard CASCADE"
W=$(mktemp -d)
for i in $(seq 1 $N); do
    echo "SELECT customercard.upsert_contact('{\"name\": \"Person $i\", \"email\": \"p$i@example.com\"}');" >> $W/a.sql
done
for i in $(seq $N -1 1); do
    echo "SELECT customercard.upsert_contact('{\"email\": \"P$i@Example.com\", \"phones\": [\"+7 900 000 $(printf %04d $i)\"]}');" >> $W/b.sql
done
echo "1..3"
psql -X -q -At -v ON_ERROR_STOP=1 -d $DB -f $W/a.sql > $W/a.out 2>&1 & pa=$!
psql -X -q -At -v ON_ERROR_STOP=1 -d $DB -f $W/b.sql > $W/b.out 2>&1 & pb=$!
ra=0; rb=0; wait $pa || ra=$?; wait $pb || rb=$?
if [ $ra -eq 0 ] && [ $rb -eq 0 ]; then echo "ok 1 - both sessions finished without an error"; else
    echo "not ok 1 - a session failed"; grep -h ERROR $W/*.out | head -3 | sed 's/^/# /'; fi
got=$(psql -X -At -d $DB -c "SELECT count(*) FROM customercard.contacts")
[ "$got" = "$N" ] && echo "ok 2 - $N people are $N contacts" || echo "not ok 2 - $N people became $got contacts"
got=$(psql -X -At -d $DB -c "SELECT count(*) FROM customercard.contacts c WHERE (SELECT count(*) FROM customercard.phones p WHERE p.contact_id = c.contact_id) = 1 AND (SELECT count(*) FROM customercard.emails e WHERE e.contact_id = c.contact_id) = 1")
[ "$got" = "$N" ] && echo "ok 3 - every contact has its one e-mail and its phone" || echo "not ok 3 - only $got contacts have exactly one e-mail and one phone"
rm -rf $W
