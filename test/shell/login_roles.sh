#!/usr/bin/env bash
# Real logins: managers of two accounts connect as themselves (psql -U) and
# can neither see nor change the other account, whatever they set.  Prints
# TAP.  Needs PGHOST/PGPORT/PGUSER (a superuser) of a cluster with trust auth.
set -euo pipefail
DB=cc_logins
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "DROP ROLE IF EXISTS cc_l_anna" -c "DROP ROLE IF EXISTS cc_l_boris" >/dev/null 2>&1' EXIT
admin() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
as() { local who=$1; shift; psql -X -q -At -U "$who" -d $DB "$@" 2>&1; }
n=0
ok() { n=$((n + 1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got:  $1"; echo "#   want: $2"; fi; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
psql -X -q -d postgres -c "DROP ROLE IF EXISTS cc_l_anna" -c "DROP ROLE IF EXISTS cc_l_boris" >/dev/null
admin -c "CREATE EXTENSION customercard CASCADE"
admin >/dev/null <<'SQL'
CREATE ROLE cc_l_anna LOGIN IN ROLE customercard_manager;
CREATE ROLE cc_l_boris LOGIN IN ROLE customercard_manager;
SELECT customercard.create_account('Boris shop');
SELECT customercard.bind_role('cc_l_anna', 1);
SELECT customercard.bind_role('cc_l_boris', 2);
SQL

echo "1..8"
ok "$(as cc_l_anna -c "SELECT customercard.upsert_contact('{\"name\": \"Anna client\"}') > 0")" t "anna writes into her account"
ok "$(as cc_l_boris -c "SELECT customercard.upsert_contact('{\"name\": \"Boris client\"}') > 0")" t "boris writes into his account"
ok "$(as cc_l_anna -c "SELECT string_agg(name, ',') FROM customercard.card")" "Anna client" "anna sees only her card"
ok "$(as cc_l_boris -c "SELECT string_agg(name, ',') FROM customercard.card")" "Boris client" "boris sees only his card"
ok "$(as cc_l_anna -c "SET customercard.account_id = 2" -c "SELECT count(*) FROM customercard.contacts")" 0 \
   "anna setting account 2 sees nothing"
ok "$(as cc_l_anna -c "SET customercard.account_id = 2" -c "UPDATE customercard.contacts SET note = 'x'" -c "SELECT 1")" 1 \
   "anna's update in account 2 touches nothing"
ok "$(as cc_l_anna -c "SET customercard.account_id = 2" -c "INSERT INTO customercard.contacts (name) VALUES ('x')" | grep -c 'not bound to account 2')" 1 \
   "anna's insert into account 2 is refused"
ok "$(admin -c "SELECT count(*) || '/' || count(note) FROM customercard.contacts WHERE account_id = 2")" "1/0" \
   "account 2 is as boris left it"
