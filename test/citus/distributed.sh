#!/usr/bin/env bash
# customercard distributed by distribute_on_citus() on a coordinator and two
# workers: what it distributes and how (again: nothing), the policies in
# the form Citus accepts on every node, each node's own id range; then, with
# an application that sets the account and the actor with SET LOCAL in each
# transaction (the PgBouncer pattern) and a login role bound to one account
# that sets nothing: writes through upsert_contact land with their log rows
# and actor, ids stay unique under concurrent writes in two accounts, and
# isolation holds when the queries are sent to any node — where a node cannot
# tell the account the answer is no rows, never another account's.  Prints
# TAP.  Needs CITUS_DIR, PGHOST/PGPORT of the coordinator and
# CITUS_WORKER_PORTS (test/scripts/run_citus_tests.sh sets them).
set -euo pipefail
source "$(dirname "$0")/../scripts/citus.sh"
source "$(dirname "$0")/../shell/lib/cards.sh"
DB=$CITUS_DB      # the database pg_cron lives in
PORTS="$PGPORT $CITUS_WORKER_PORTS"
cleanup() {
    psql -X -q -d $DB -c "SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname LIKE 'customercard-%'" >/dev/null 2>&1
    psql -X -q -d $DB -c "DROP EXTENSION IF EXISTS customercard CASCADE" >/dev/null 2>&1
    for p in $PORTS; do psql -X -q -p $p -d $DB -c "DROP SCHEMA IF EXISTS customercard CASCADE" >/dev/null 2>&1; done   # placements left behind
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS cc_d_app" -c "DROP ROLE IF EXISTS cc_d_anna" >/dev/null 2>&1 || true
}
cleanup; trap cleanup EXIT
[ -n "${CITUS_KEEP:-}" ] && trap - EXIT   # keep what the test made, to look at
on() { local p=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -p "$p" -d $DB "$@"; }
echo "1..39"

q $DB -c "CREATE EXTENSION customercard CASCADE" 2>/dev/null
tables=$(q $DB -c "SELECT count(*) FROM customercard.distribute_on_citus()" 2>/dev/null)
all=$(q $DB -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'customercard'::regnamespace AND relkind = 'r'")
ok "$tables" "$all" "distribute_on_citus() distributes every table of the schema ($all)"
ok "$(q $DB -c "SELECT string_agg(logicalrelid::text, ',' ORDER BY 1) FROM pg_dist_partition WHERE partmethod = 'n'")" \
   "customercard.accounts,customercard.role_bindings" "accounts and role_bindings are reference tables"
ok "$(q $DB -c "SELECT count(*) || ' ' || count(DISTINCT colocationid) || ' ' || bool_and(column_to_column_name(logicalrelid, partkey) = 'account_id')
                 FROM pg_dist_partition WHERE partmethod = 'h'
                  AND colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'customercard.contacts'::regclass)")" \
   "$((all - 2)) 1 true" "every other table is distributed by account_id, colocated with contacts"
before=$(q $DB -c "SELECT md5(string_agg(logicalrelid::text || partmethod::text || colocationid, ',' ORDER BY 1)) FROM pg_dist_partition")
again=$(q $DB -c "SELECT count(*) FROM customercard.distribute_on_citus()")
ok "$again|$(q $DB -c "SELECT md5(string_agg(logicalrelid::text || partmethod::text || colocationid, ',' ORDER BY 1)) FROM pg_dist_partition")" "0|$before" \
   "run again, it distributes nothing and changes nothing"

sub=""; ranges=""
for p in $PORTS; do
    sub="$sub $(on $p -c "SELECT count(*) FROM pg_policy WHERE polrelid::regclass::text LIKE 'customercard.%' AND pg_get_expr(polqual, polrelid) ~ 'SELECT'")"
    ranges="$ranges $(on $p -c "SELECT min_value FROM pg_sequences WHERE schemaname = 'customercard' AND sequencename = 'action_log_log_id_seq'")"
done
ok "$sub" " 0 0 0" "no policy on any node has a sub-select (Citus refuses those)"
ok "$(echo $ranges | tr ' ' '\n' | sort -u | wc -l)" 3 "each node takes ids from its own range ($ranges )"

# an application's pooled role and a login bound to account 1
q $DB >/dev/null <<'SQL'
CREATE ROLE cc_d_app LOGIN IN ROLE customercard_app, customercard_admin;
CREATE ROLE cc_d_anna LOGIN IN ROLE customercard_manager;
SELECT customercard.create_account('Second shop', 'DE', 'EUR');
SELECT customercard.bind_role('cc_d_anna', 1);
SQL
app() { local p=$1 acct=$2; shift 2; printf 'BEGIN;\nSET LOCAL customercard.account_id = %s;\nSET LOCAL customercard.actor = %s;\n%s\nCOMMIT;\n' \
            "$acct" "'app:$acct'" "$*" | psql -X -q -At -v ON_ERROR_STOP=1 -U cc_d_app -p "$p" -d $DB; }
app $PGPORT 1 "SELECT customercard.upsert_contact('{\"name\": \"Anna Petrova\", \"phones\": [\"8 912 345 67 89\"], \"emails\": [\"anna@example.ru\"], \"tags\": [\"vip\"], \"channel\": {\"kind\": \"telegram\", \"external_id\": 100}}');" >/dev/null
app $PGPORT 2 "SELECT customercard.upsert_contact('{\"name\": \"Zweiter Kunde\", \"emails\": [\"k@example.de\"], \"tags\": [\"neu\"]}');" >/dev/null
ok "$(q $DB -c "SELECT string_agg(c.account_id || ':' || c.name || ':' || (SELECT string_agg(DISTINCT l.actor, ',') FROM customercard.action_log l
                                    WHERE l.account_id = c.account_id AND l.contact_id = c.contact_id), ' ' ORDER BY c.account_id)
                 FROM customercard.contacts c")" \
   "1:Anna Petrova:app:1 2:Zweiter Kunde:app:2" "upsert_contact in each account, its log rows written on the shard's node with the SET LOCAL actor"
anna_id=$(q $DB -c "SELECT contact_id FROM customercard.contacts WHERE account_id = 1")
ok "$(app $PGPORT 1 "SELECT customercard.log_event($anna_id, 'crm_exported', '{\"crm\": \"amoCRM\"}');" >/dev/null;
      q $DB -c "SELECT count(*) || ' ' || min(actor) FROM customercard.action_log WHERE event = 'crm_exported'")" "1 app:1" \
   "log_event from the coordinator writes its row into the account's shard"
# in one transaction with other writes of the account (log_event is delegated to its node)
ok "$(app $PGPORT 1 "SELECT customercard.register_event_kind('amocrm.deal_won', 'Deal won in amoCRM');
                     UPDATE customercard.contacts SET note = 'won' WHERE contact_id = $anna_id;
                     SELECT customercard.log_event($anna_id, 'amocrm.deal_won', '{\"deal\": 7}');" >/dev/null;
      q $DB -c "SELECT count(*) || ' ' || min(actor) FROM customercard.action_log WHERE event = 'amocrm.deal_won'")|$(app $PGPORT 2 "SELECT customercard.log_event((SELECT min(contact_id) FROM customercard.contacts), 'amocrm.deal_won');" 2>&1 | grep -c 'not registered in account 2')" "1 app:1|1" \
   "log_event after other writes in its transaction, of a kind registered in account 1 in the same transaction, is logged on the cluster; the kind is unknown in account 2"

# isolation, the queries sent to each node in turn
iso=""; sess=""; none=""; anna=""; anna2=""
for p in $PORTS; do
    iso="$iso $(app $p 2 "SELECT string_agg(name, ',') FROM customercard.contacts;")"
    sess="$sess $(psql -X -q -At -U cc_d_app -p $p -d $DB -c "SET customercard.account_id = 2" -c "SELECT count(*) FROM customercard.contacts")"
    none="$none $(psql -X -q -At -U cc_d_app -p $p -d $DB -c "SELECT count(*) FROM customercard.contacts")"
    anna="$anna $(psql -X -q -At -U cc_d_anna -p $p -d $DB -c "SELECT string_agg(name, ',') FROM customercard.contacts")"
    anna2="$anna2 $(psql -X -q -At -U cc_d_anna -p $p -d $DB -c "SET customercard.account_id = 2" -c "SELECT count(*) FILTER (WHERE account_id = 2) FROM customercard.contacts")"
    anna3="${anna3:-} $(printf 'BEGIN;\nSET LOCAL customercard.account_id = 2;\nSELECT count(*) FROM customercard.contacts;\nCOMMIT;\n' | psql -X -q -At -U cc_d_anna -p $p -d $DB)"
done
ok "$iso" " Zweiter Kunde Zweiter Kunde Zweiter Kunde" "the pooled role with SET LOCAL account 2 sees account 2 only, on every node"
ok "$sess" " 0 0 0" "a session-level SET (which Citus does not send on) gives no rows on any node, never the default account's"
ok "$none" " 0 0 0" "the pooled role that sets no account sees nothing on the cluster"
ok "$anna" " Anna Petrova Anna Petrova Anna Petrova" "the login bound to account 1 sees it without setting anything, on every node"
ok "$anna2" " 0 0 0" "the login bound to account 1 that sets account 2 for the session never sees account 2's rows, on any node"
ok "$anna3" " 0 0 0" "... and with SET LOCAL it sees nothing at all, on every node"

# the card views and card_json, read through the pooled role
ok "$(app $PGPORT 1 "SELECT count(*) || ' ' || (customercard.card_json($anna_id) -> 'card' ->> 'name') || ' ' || (customercard.card_json($anna_id) -> 'card' ->> 'phone') FROM customercard.card;")" \
   "1 Anna Petrova +79123456789" "the card view and card_json work on the cluster (the policies keep outer joins plannable)"
ok "$(app $PGPORT 1 "SELECT name || ' ' || phone::text || ' ' || jsonb_typeof(open_tasks) FROM customercard.card_quick WHERE contact_id = $anna_id;")|$(app $PGPORT 2 "SELECT count(*) FROM customercard.card_quick WHERE contact_id = $anna_id;")" \
   "Anna Petrova +79123456789 array|0" "the quick card works on the cluster, and asked in account 2 it has none of account 1's contact"
# a deleted sending group: its letters stay, the group empty, the change logged (a trigger on the shards)
# (INSERT ... VALUES: Citus sends an INSERT ... SELECT as COPY, which it refuses under RLS)
gid=$(app $PGPORT 1 "INSERT INTO customercard.groups (name) VALUES ('Autumn list') RETURNING group_id;")
app $PGPORT 1 "INSERT INTO customercard.emails_sent (contact_id, kind, subject, group_id) VALUES ($anna_id, 'autoseries', 'Lesson 3', $gid);
               DELETE FROM customercard.groups WHERE group_id = $gid;" >/dev/null
ok "$(q $DB -c "SELECT count(*) || ':' || count(group_id) FROM customercard.emails_sent WHERE contact_id = $anna_id")|$(q $DB -c "SELECT count(*) FROM customercard.action_log
        WHERE contact_id = $anna_id AND event = 'row_changed' AND details ->> 'section' = 'emails_sent' AND actor = 'app:1'")" "1:0|1" \
   "deleting a sending group on the cluster keeps its letter with the group empty, logged with the actor"
ok "$(app $PGPORT 2 "SELECT customercard.card_json($anna_id);" 2>&1 | grep -o 'does not exist in account 2' | head -1)" "does not exist in account 2" \
   "card_json of account 1's contact, asked in account 2: does not exist"

ok "$(app $PGPORT 1 "SELECT string_agg(event, ',' ORDER BY at) FROM customercard.contact_log($anna_id, '{tag_added,crm_exported}');")" \
   "tag_added,crm_exported" "contact_log reads the contact's log on the cluster"
ok "$(app $PGPORT 1 "SELECT count(*) FROM customercard.export_rows('{}');"; app $PGPORT 1 "SELECT position('Anna Petrova' in customercard.export_csv('{}')) > 0;")" \
   "$(printf '1\nt')" "the exports read the account's contacts on the cluster"

# unbinding takes effect at once, also for the worker connections Citus keeps
got=$(psql -X -q -At -U cc_d_anna -d $DB <<SQL
SELECT count(*) FROM customercard.contacts;
\! psql -X -q -At -U postgres -p $PGPORT -d $DB -c "SELECT customercard.unbind_role('cc_d_anna', 1)" >/dev/null
SELECT count(*) FROM customercard.contacts;
SQL
)
ok "$(echo $got)" "1 0" "unbind_role takes effect at once in a session already working on the cluster"

# concurrent writes in two accounts: every id unique across the cluster
for a in 1 2; do
    ( for i in $(seq 1 40); do
          app $PGPORT $a "SELECT customercard.upsert_contact('{\"name\": \"Parallel $a-$i\", \"tags\": [\"t$i\"]}');"
      done >/dev/null ) &
done
wait
ok "$(q $DB -c "SELECT (SELECT count(*) || '/' || count(DISTINCT contact_id) FROM customercard.contacts WHERE name LIKE 'Parallel%') || ' '
                    || (SELECT count(*) || '/' || count(DISTINCT log_id) FROM customercard.action_log)
                    || ' ' || (SELECT count(*) FROM customercard.action_log WHERE actor = 'system')")" \
   "80/80 $(q $DB -c "SELECT count(*) || '/' || count(*) FROM customercard.action_log") 0" \
   "80 contacts written at once in two accounts: contact and log ids unique cluster-wide, every log row with its actor"

# a bulk job previewed and queued by the application, run by pg_cron on the coordinator
ok "$(app $PGPORT 1 "SELECT (customercard.bulk_preview('add_tag', '{\"tag\": \"autumn\"}', filter => '{}') - 'sample')::text;")|$(q $DB -c "SELECT count(*) FROM customercard.tags WHERE name = 'autumn'")" \
   '{"action": "add_tag", "cannot": 0, "already": 0, "selected": 41, "would_change": 41}|0' \
   "bulk_preview on the cluster: the account's contacts, and the tag not made"
ok "$(app $PGPORT 1 "SELECT string_agg(name, ',') FROM customercard.audience_search('{\"search\": \"PETROV\"}');")" "Anna Petrova" \
   "a name search on the cluster, in any case"
job=$(app $PGPORT 1 "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"autumn\"}', filter => '{}');")
q $DB -c "SELECT customercard.schedule_bulk_runner()" >/dev/null
ok "$(q $DB -c "SELECT command FROM cron.job WHERE jobname = 'customercard-bulk-runner-$DB'")" "CALL customercard.bulk_run()" \
   "schedule_bulk_runner registers the runner with pg_cron on the coordinator"
for i in $(seq 1 90); do   # pg_cron 1.4 runs it at the next minute
    [ "$(q $DB -c "SELECT status FROM customercard.bulk_jobs WHERE job_id = $job")" = done ] && break
    sleep 1
done
ok "$(q $DB -c "SELECT b.status || ' ' || b.done || ' ' || (SELECT count(*) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
                                                      WHERE t.name = 'autumn') || ' '
                    || (SELECT string_agg(DISTINCT l.actor, ',') FROM customercard.action_log l WHERE l.event = 'tag_added' AND l.details ->> 'tag' = 'autumn')
                 FROM customercard.bulk_jobs b WHERE b.job_id = $job")" \
   "done 41 41 app:1" "pg_cron ran the bulk job on the cluster: every contact of account 1 tagged, logged with the job's actor"

# the job undone on the cluster, and the undo undone (a redo); an archive
# undone (the journal's three kinds of rows: made, removed, changed)
undo_state() {   # job: status done failed, the autumn tags, archived cards, and the job's log events by the app
    q $DB -c "SELECT b.status || ' ' || b.done || ' ' || b.failed || ' '
                     || (SELECT count(*) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id) WHERE t.name = 'autumn') || ' '
                     || (SELECT count(*) FROM customercard.contacts c WHERE c.account_id = 1 AND c.status = 'archived')
                FROM customercard.bulk_jobs b WHERE b.job_id = $1"
}
undo=$(app $PGPORT 1 "SELECT customercard.bulk_undo($job);")
q $DB -c "CALL customercard.bulk_run('30 seconds')"
ok "$(undo_state $undo)|$(q $DB -c "SELECT count(*) FROM customercard.action_log WHERE event = 'tag_removed' AND details ->> 'tag' = 'autumn' AND actor = 'app:1'")" \
   "done 41 0 0 0|41" "bulk_undo on the cluster: every tag of the job taken off again, each logged with the undo's actor"
redo=$(app $PGPORT 1 "SELECT customercard.bulk_undo($undo);")
q $DB -c "CALL customercard.bulk_run('30 seconds')"
ok "$(undo_state $redo)" "done 41 0 41 0" "... and its undo puts them back"
arch=$(app $PGPORT 1 "SELECT customercard.bulk_enqueue('archive', filter => '{}');")
q $DB -c "CALL customercard.bulk_run('30 seconds')"
ok "$(undo_state $arch)" "done 41 0 41 41" "an archive job on the cluster ..."
undo=$(app $PGPORT 1 "SELECT customercard.bulk_undo($arch);")
q $DB -c "CALL customercard.bulk_run('30 seconds')"
ok "$(undo_state $undo)" "done 41 0 41 0" "... undone: each card's status back"

# every other action on the cluster, each undone: every job and undo done,
# and account 1's card rows as before; an export queued and written there
q $DB -c "INSERT INTO customercard.funnels (account_id, name) VALUES (1, 'Cluster funnel');
          INSERT INTO customercard.sales_plans (account_id, name) VALUES (1, 'Cluster plan');
          INSERT INTO customercard.custom_fields (account_id, name) VALUES (1, 'Cluster field');" >/dev/null
cluster_manager=$(q $DB -c "INSERT INTO customercard.managers (account_id, name) VALUES (1, 'Cluster manager') RETURNING manager_id")
card_rows() {   # account 1's rows of the tables bulk jobs change, without their updated_at stamps
    q $DB -c "SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (
                SELECT 'c' || (to_jsonb(x) - 'updated_at')::text AS r FROM customercard.contacts x WHERE x.account_id = 1
                UNION ALL SELECT 't' || to_jsonb(x)::text FROM customercard.contact_tags x WHERE x.account_id = 1
                UNION ALL SELECT 's' || (to_jsonb(x) - 'updated_at')::text FROM customercard.subscriptions x WHERE x.account_id = 1
                UNION ALL SELECT 'p' || (to_jsonb(x) - 'updated_at')::text FROM customercard.sales_plan_members x WHERE x.account_id = 1
                UNION ALL SELECT 'h' || (to_jsonb(x) - 'updated_at')::text FROM customercard.channels x WHERE x.account_id = 1
                UNION ALL SELECT 'v' || (to_jsonb(x) - 'updated_at')::text FROM customercard.custom_values x WHERE x.account_id = 1) rows"
}
rows_before=$(card_rows)
states=""
for job in "remove_tag|{\"tag\": \"vip\"}" "subscribe|{\"funnel\": \"Cluster funnel\"}" "add_to_sales_plan|{\"plan\": \"Cluster plan\"}" \
           "create_channel|{\"kind\": \"email\"}" "assign_manager|{\"manager_id\": $cluster_manager}" \
           "set_field|{\"field\": \"Cluster field\", \"value\": \"x\"}" "set_field|{\"field\": \"gender\", \"value\": \"female\"}" \
           "delete|{}" "blacklist|{}"; do
    j=$(app $PGPORT 1 "SELECT customercard.bulk_enqueue('${job%%|*}', '${job#*|}', filter => '{}');")
    q $DB -c "CALL customercard.bulk_run('30 seconds')"
    u=$(app $PGPORT 1 "SELECT customercard.bulk_undo($j);")
    q $DB -c "CALL customercard.bulk_run('30 seconds')"
    states="$states $(q $DB -c "SELECT string_agg(status, '/' ORDER BY job_id) FROM customercard.bulk_jobs WHERE job_id IN ($j, $u) AND error IS NULL")"
done
ok "$states" " done/done done/done done/done done/done done/done done/done done/done done/done done/done" \
   "remove_tag, subscribe, add_to_sales_plan, create_channel, assign_manager, set_field, delete, blacklist on the cluster, each undone there"
ok "$(card_rows)" "$rows_before" "... and account 1's cards are row for row as before"
j=$(app $PGPORT 1 "SELECT customercard.bulk_enqueue('export', filter => '{}');")
q $DB -c "CALL customercard.bulk_run('30 seconds')"
ok "$(app $PGPORT 1 "SELECT (SELECT status FROM customercard.bulk_progress WHERE job = $j) || ' ' || (length(customercard.bulk_export_csv($j)) - length(replace(customercard.bulk_export_csv($j), chr(10), '')));")" \
   "done 42" "an export job on the cluster: the header and a line per contact of account 1"

# duplicates on the cluster: the same phone typed another way in a second card
dup=$(app $PGPORT 1 "INSERT INTO customercard.contacts (account_id, name) VALUES (1, 'Anna Petrowa') RETURNING contact_id;")
app $PGPORT 1 "INSERT INTO customercard.phones (account_id, contact_id, phone, raw, is_primary) VALUES (1, $dup, '8 (912) 345-67-89', '8 (912) 345-67-89', true);" >/dev/null
ok "$(app $PGPORT 1 "SELECT string_agg(contact_id || ' ' || array_to_string(reasons, ';'), ',') FROM customercard.duplicate_candidates($anna_id) WHERE contact_id = $dup;" | sed 's/;name.*//')" \
   "$dup phone +79123456789" "duplicate_candidates finds the second card by its phone on the cluster"
app $PGPORT 1 "SELECT customercard.not_duplicates($anna_id, $dup);" >/dev/null
ok "$(app $PGPORT 1 "SELECT count(*) FROM customercard.duplicate_candidates($anna_id) WHERE contact_id = $dup;")" 0 \
   "... and not after not_duplicates"

# the columns the extension sets are refused on the cluster too (checked on
# the coordinator; the shards take Citus's full rows)
ok "$(app $PGPORT 1 "INSERT INTO customercard.contacts (account_id, contact_id, name) VALUES (1, 42, 'squatter');" 2>&1 | grep -o 'permission denied for table contacts' | head -1)|$(app $PGPORT 1 "INSERT INTO customercard.comments (account_id, contact_id, body, author) VALUES (1, $anna_id, 'hi', 'system');" 2>&1 | grep -o 'permission denied for table comments' | head -1)|$(app $PGPORT 1 "INSERT INTO customercard.comments (account_id, contact_id, body) VALUES (1, $anna_id, 'hi') RETURNING author;")" \
   "permission denied for table contacts|permission denied for table comments|app:1" \
   "an explicit contact id or comment author is refused on the cluster; a plain comment takes the actor"

# webinars on the cluster: the visit's and registration's triggers run on
# the shards and reach the account's webinars and registrations there
app $PGPORT 1 "INSERT INTO customercard.webinar_visits (contact_id, webinar, launch, joined_at, chat)
               VALUES ($anna_id, 'Cluster webinar', 1, now(), '[{\"at\": \"2026-03-01 16:05+00\", \"text\": \"hello\"}]');
               INSERT INTO customercard.webinar_registrations (webinar_id, contact_id)
               SELECT webinar_id, $anna_id FROM customercard.webinars WHERE name = 'Cluster webinar';" >/dev/null
ok "$(app $PGPORT 1 "SELECT (SELECT count(*) FROM customercard.webinars WHERE name = 'Cluster webinar') || ' '
                            || (SELECT attended FROM customercard.webinar_registrations r JOIN customercard.webinars w USING (account_id, webinar_id)
                                 WHERE w.name = 'Cluster webinar' AND r.contact_id = $anna_id) || ' '
                            || (SELECT chat_messages FROM customercard.webinar_visits WHERE webinar = 'Cluster webinar');")" \
   "1 true 1" "a visit named by its webinar makes the webinar on the cluster, counts its chat, and the registration after it is attended"

# group rules on the cluster: the membership trigger runs on the shard, reads
# the group there, stamps when the person left; the app may take a member
# out of an automatic group
app $PGPORT 1 "INSERT INTO customercard.groups (name, is_automatic) VALUES ('Cluster buyers', true);
               INSERT INTO customercard.group_members (group_id, contact_id)
               SELECT group_id, $anna_id FROM customercard.groups WHERE name = 'Cluster buyers';
               UPDATE customercard.group_members SET status = 'unsubscribed' WHERE contact_id = $anna_id
                  AND group_id = (SELECT group_id FROM customercard.groups WHERE name = 'Cluster buyers');" >/dev/null
ok "$(app $PGPORT 1 "SELECT status || ' ' || (left_at IS NOT NULL) FROM customercard.group_members m JOIN customercard.groups g USING (account_id, group_id)
                     WHERE g.name = 'Cluster buyers' AND m.contact_id = $anna_id;")" \
   "unsubscribed true" "an automatic group's member unsubscribed by the app on the cluster, with the time they left"
