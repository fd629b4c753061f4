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
# (a dialog, a webinar registration, an order's calls and actions ahead first)
ID=$(q -At -c "SELECT c.contact_id FROM customercard.card c
               ORDER BY EXISTS (SELECT 1 FROM customercard.card_messages m WHERE m.contact_id = c.contact_id)
                        AND EXISTS (SELECT 1 FROM customercard.card_webinar_registrations r WHERE r.contact_id = c.contact_id)
                        AND EXISTS (SELECT 1 FROM customercard.card_order_calls o WHERE o.contact_id = c.contact_id)
                        AND EXISTS (SELECT 1 FROM customercard.card_upcoming u WHERE u.contact_id = c.contact_id) DESC,
                        c.phone IS NOT NULL DESC, c.email IS NOT NULL DESC, c.orders_count DESC, c.open_tasks DESC, array_length(c.tags, 1) DESC NULLS LAST, c.contact_id LIMIT 1")

echo "== the card row of contact $ID (customercard.card)"
q -x -c "SELECT * FROM customercard.card WHERE contact_id = $ID"

echo "== contact $ID's dialog, webinars, calls about orders and what is ahead"
q -c "SELECT thread, direction, author, left(body, 50) AS body, sent_at::timestamp(0) AS sent_at FROM customercard.card_messages WHERE contact_id = $ID ORDER BY sent_at"
q -c "SELECT webinar, launch, starts_at::timestamp(0) AS starts_at, registered_at::timestamp(0) AS registered_at, attended, visits FROM customercard.card_webinar_registrations WHERE contact_id = $ID"
q -c "SELECT order_number, order_status, result, comment, responsible, started_at::timestamp(0) AS started_at FROM customercard.card_order_calls WHERE contact_id = $ID"
q -c "SELECT kind, at::timestamp(0) AS at, what FROM customercard.card_upcoming WHERE contact_id = $ID ORDER BY at"

echo "== money of contact $ID (customercard.card_finance)"
q -c "SELECT currency, invoiced, expected, confirmed, paid, refunds, expenses, income, profit FROM customercard.card_finance WHERE contact_id = $ID"

echo "== a bank transfer for contact $ID: the manager confirms it and it pays its order (customercard.confirm_payment)"
PAY=$(q -qAt <<SQL
SET customercard.actor = 'manager:olga';
WITH o AS (INSERT INTO customercard.orders (contact_id, number, offer, amount, status, is_manual)
           VALUES ($ID, 'DEMO-1', 'Advanced course', 12000, 'pending', true) RETURNING order_id)
INSERT INTO customercard.payments (order_id, contact_id, amount, status, is_manual)
SELECT order_id, $ID, 12000, 'pending', true FROM o RETURNING payment_id;
SQL
)
q -c "SELECT number, status, amount, paid_amount, paid_at::timestamp(0) AS paid_at, is_active FROM customercard.card_orders WHERE contact_id = $ID AND number = 'DEMO-1'"
# (confirm_payment records the confirming manager: the actor names one of the account's managers)
MGR=$(q -qAt -c "SELECT min(manager_id) FROM customercard.managers WHERE account_id = customercard.current_account_id()")
q -q -c "SET customercard.actor = 'manager:$MGR'" -c "SELECT customercard.confirm_payment($PAY)" >/dev/null
q -c "SELECT number, status, amount, paid_amount, paid_at::timestamp(0) AS paid_at, is_active FROM customercard.card_orders WHERE contact_id = $ID AND number = 'DEMO-1'"
q -c "SELECT actor, event, description FROM customercard.contact_log($ID, ARRAY['payment_confirmed', 'order_status_changed']) LIMIT 2"

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

echo "== local time from the phone: contacts who stated no time zone (customercard.card, phone_timezones)"
q -c "SELECT contact_id, name, phone, customercard.phone_timezones(phone) AS phone_zones, timezone, timezone_source,
             local_time::timestamp(0) AS local_time
        FROM ((SELECT * FROM customercard.card WHERE timezone_source = 'phone' ORDER BY contact_id LIMIT 3)
              UNION ALL
              (SELECT * FROM customercard.card WHERE timezone IS NULL AND phone IS NOT NULL ORDER BY contact_id LIMIT 1)) c"
q -c "SELECT extract(hour FROM now() AT TIME ZONE 'Europe/Berlin')::integer AS berlin_hour,
             customercard.audience_count(jsonb_build_object('local_hour', jsonb_build_array(9, 18))) AS local_9_to_18"

echo "== one number typed in different formats is one customercard.phone (E.164, 8 bytes)"
q -c "SELECT p.contact_id, p.raw AS typed, p.phone, customercard.phone_region(p.phone) AS region,
             customercard.format_phone(p.phone, 'national') AS national
        FROM customercard.phones p
       WHERE p.phone OPERATOR(customercard.=) (SELECT q.phone FROM customercard.phones q
                                                GROUP BY q.phone HAVING count(DISTINCT q.raw) > 1
                                                ORDER BY q.phone LIMIT 1)
       ORDER BY p.contact_id"

DUP=$(q -qAt -c "SELECT g.contact_ids[1] FROM customercard.duplicate_groups() g
                 WHERE cardinality(g.contact_ids) = 2 ORDER BY g.group_id LIMIT 1")
OTHER=$(q -qAt -c "SELECT g.contact_ids[2] FROM customercard.duplicate_groups() g WHERE g.contact_ids[1] = $DUP")
echo "== duplicates of contact $DUP: scored candidates (customercard.duplicate_candidates)"
q -c "SELECT contact_id, round(score::numeric, 2) AS score, reasons FROM customercard.duplicate_candidates($DUP) LIMIT 5"

echo "== merging contact $OTHER into $DUP: the preview (customercard.merge_preview), then the merge"
q -c "SELECT * FROM customercard.merge_preview($DUP, $OTHER)
       WHERE survivor_value IS DISTINCT FROM absorbed_value OR field LIKE 'count:%'"
MERGE=$(q -qAt -c "SELECT customercard.merge($DUP, $OTHER)")
q -c "SELECT contact_id, name, merged_into, points, status FROM customercard.contacts WHERE contact_id IN ($DUP, $OTHER) ORDER BY contact_id"
q -c "SELECT description, actor FROM customercard.contact_log($DUP, ARRAY['merged'])"
echo "   (customercard.unmerge($MERGE) would restore both exactly)"

echo "== a bulk job: tag every contact with an e-mail, worked off in committed batches"
JOB=$(q -qAt -c "SET customercard.actor = 'manager:olga'" \
            -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"newsletter\"}', filter => '{\"has_email\": true}')")
q -c "SELECT job, action, status, total, done, percent FROM customercard.bulk_progress WHERE job = $JOB"
q -c "CALL customercard.bulk_run()"
q -c "SELECT job, action, status, total, done, failed, percent, started, estimated_finish AS finished
        FROM customercard.bulk_progress WHERE job = $JOB"

cat <<MSG

== the demo cluster is running
   connect:  psql -h $DIR -p $PORT -U postgres customercard_demo
   stop:     runuser -u postgres -- $PGBIN/pg_ctl -D $DIR/data stop
MSG
