#!/usr/bin/env bash
# demo.sh (`make demo`): set up from nothing, start a private cluster, load
# demo data and show a customer card.  The cluster keeps running; the last
# lines say how to connect and how to stop it.
#   DEMO_CONTACTS=100000 make demo     (default 2000)
source "$(dirname "$0")/lib.sh"
ensure_deps
build_install

DIR=/tmp/customercard-demo
PORT=${DEMO_PORT:-55433}
stop_cluster "$DIR"
start_cluster "$DIR" "$PORT"
cd "$ROOT"
N=${DEMO_CONTACTS:-2000}
q() { psql -X -v ON_ERROR_STOP=1 -d customercard_demo "$@"; }

psql -X -q -d postgres -c "CREATE DATABASE customercard_demo" >/dev/null
q -q -c "CREATE EXTENSION customercard CASCADE" -f bench/gen/demo_data.sql
echo "== loading $N demo contacts"
q -c "\timing on" -c "SELECT * FROM customercard_demo.generate($N)"

# the richest card of the demo
ID=$(q -At -c "SELECT c.contact_id FROM customercard.card c
               ORDER BY c.phone IS NOT NULL DESC, c.email IS NOT NULL DESC, c.orders_count DESC, c.open_tasks DESC, array_length(c.tags, 1) DESC NULLS LAST, c.contact_id LIMIT 1")

echo "== the card row of contact $ID (customercard.card)"
q -x -c "SELECT * FROM customercard.card WHERE contact_id = $ID"

echo "== money of contact $ID (customercard.card_finance)"
q -c "SELECT currency, invoiced, expected, confirmed, paid, refunds, expenses, income, profit FROM customercard.card_finance WHERE contact_id = $ID"

echo "== a manager works on contact $ID; the action log records it (customercard.contact_log)"
q -q <<SQL
SET customercard.actor = 'manager:olga';
UPDATE customercard.contacts SET note = 'Wants the advanced course in spring', status = 'active'
 WHERE account_id = customercard.current_account_id() AND contact_id = $ID;
INSERT INTO customercard.tasks (contact_id, title, due_at) VALUES ($ID, 'Call about the advanced course', now() + interval '2 days');
INSERT INTO customercard.comments (contact_id, body) VALUES ($ID, 'Asked about an installment plan');
\o /dev/null
SELECT customercard.log_event($ID, 'crm_exported', '{"crm": "amoCRM", "deal_id": 4711}');
\o
SQL
q -c "SELECT at::timestamp(0) AS at, actor, event, description FROM customercard.contact_log($ID) LIMIT 8"

echo "== the whole card of contact $ID (customercard.card_json)"
q -At -c "SELECT jsonb_pretty(customercard.card_json($ID))"

echo "== contacts that look like the same person (customercard.card_related), a few"
q -c "SELECT r.contact_id, a.name, r.related_id, b.name AS related_name, r.shared, r.shared_values
        FROM customercard.card_related r
        JOIN customercard.card a ON a.contact_id = r.contact_id
        JOIN customercard.card b ON b.contact_id = r.related_id
       WHERE 'phone' = ANY (r.shared) AND r.contact_id < r.related_id
       ORDER BY r.contact_id LIMIT 5"

echo "== one number typed in different formats is one customercard.phone (E.164, 8 bytes)"
q -c "SELECT p.contact_id, p.raw AS typed, p.phone, customercard.phone_region(p.phone) AS region,
             customercard.format_phone(p.phone, 'national') AS national
        FROM customercard.phones p
       WHERE p.phone OPERATOR(customercard.=) (SELECT q.phone FROM customercard.phones q
                                                GROUP BY q.phone HAVING count(DISTINCT q.raw) > 1
                                                ORDER BY q.phone LIMIT 1)
       ORDER BY p.contact_id"

cat <<MSG

== the demo cluster is running
   connect:  psql -h $DIR -p $PORT -U postgres customercard_demo
   stop:     runuser -u postgres -- $PGBIN/pg_ctl -D $DIR/data stop
MSG
