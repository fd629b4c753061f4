-- Bulk actions: parameters and selections checked at enqueue,
-- each action's effect batch by batch (bulk_run_batch: the unit bulk_run
-- commits; the procedure itself, progress, kills and cron are in
-- test/shell/bulk_runner.sh), failures kept, exports, cancel, limits.
BEGIN;
SELECT plan(55);

SELECT customercard.create_account('Bulk test', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.actor = 'manager:olga';

INSERT INTO customercard.managers (name) VALUES ('Olga') RETURNING manager_id AS olga \gset
INSERT INTO customercard.contacts (name, city) SELECT 'Bulk person ' || i, 'Perm' FROM generate_series(1, 40) i;
INSERT INTO customercard.emails (contact_id, email)
SELECT contact_id, 'bulk' || contact_id || '@example.com' FROM customercard.contacts WHERE account_id = :acct AND contact_id % 2 = 0;
INSERT INTO customercard.phones (contact_id, phone, raw)
SELECT contact_id, '+7 900 ' || lpad(contact_id::text, 7, '0'), 'x' FROM customercard.contacts WHERE account_id = :acct AND contact_id % 3 = 0;
CREATE TEMP TABLE people AS SELECT contact_id FROM customercard.contacts WHERE account_id = :acct ORDER BY contact_id;
SELECT min(contact_id) AS first, max(contact_id) AS last FROM people \gset
INSERT INTO customercard.funnels (name) VALUES ('Webinar funnel') RETURNING funnel_id AS funnel \gset
INSERT INTO customercard.lgts (funnel_id, name) VALUES (:funnel, 'Landing') RETURNING lgt_id AS lgt \gset
INSERT INTO customercard.sales_plans (name) VALUES ('Spring sale');
INSERT INTO customercard.custom_fields (name) VALUES ('Source');

-- ---------------------------------------------------------------- enqueue checks
SELECT throws_ok($$SELECT customercard.bulk_enqueue('add_tag', '{"tag": "x"}')$$, '22023',
    'bulk_enqueue needs exactly one of contact_ids and filter', 'neither ids nor a filter');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('add_tag', '{"tag": "x"}', ARRAY[1], '{}')$$, '22023', NULL, 'both ids and a filter');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('launch_rockets', filter => '{}')$$, '22023', 'unknown bulk action ''launch_rockets''', 'an unknown action');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('add_tag', '{}', filter => '{}')$$, '22023', 'add_tag needs a tag name', 'add_tag without a tag');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('add_tag', '{"tag": "x", "colour": "red"}', filter => '{}')$$, '22023',
    'unknown parameter "colour" of bulk action add_tag', 'an unknown parameter');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('add_to_sales_plan', '{"plan": "Autumn sale"}', filter => '{}')$$, '42704', NULL, 'an unknown plan');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('remove_tag', '{"tag": "never used"}', filter => '{}')$$, '42704', NULL, 'removing a tag that does not exist');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('archive', filter => '{"colour": "red"}')$$, '22023', NULL, 'a filter with an unknown key');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('archive', contact_ids => ARRAY[-1])$$, '42704', NULL, 'an id that is no contact');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('set_field', '{"field": "timezone", "value": "Mars/Olympus"}', filter => '{}')$$, '22023', NULL,
    'a bad value for a field');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('set_field', '{"field": "shoe_size", "value": "42"}', filter => '{}')$$, '42704', NULL,
    'a field that does not exist');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('create_channel', '{"kind": "pigeon"}', filter => '{}')$$, '22023', NULL, 'a channel kind other than email or sms');
SELECT is((SELECT count(*) FROM customercard.bulk_jobs WHERE account_id = :acct), 0::bigint, 'a refused enqueue leaves no job behind');

-- at most 10,000 contacts for add_to_sales_plan
INSERT INTO customercard.contacts (name, status) SELECT 'Crowd ' || i, 'archived' FROM generate_series(1, 10001) i;
SELECT throws_ok($$SELECT customercard.bulk_enqueue('add_to_sales_plan', '{"plan": "Spring sale"}', filter => '{"status": "archived"}')$$,
    '54000', 'add_to_sales_plan takes at most 10,000 contacts, not 10001', 'over 10,000 contacts for a sales plan is refused');
SELECT is(tap.sqlstate_of($$SELECT customercard.bulk_enqueue('archive', filter => '{"status": "archived"}')$$), 'no error',
    '... other actions take any number');
DELETE FROM customercard.bulk_jobs WHERE account_id = :acct;

-- ---------------------------------------------------------------- actions
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "promo"}', filter => '{"search": "Bulk person"}') AS j_tag \gset
SELECT results_eq(format('SELECT status, total, done FROM customercard.bulk_progress WHERE job = %s', :j_tag),
    $$VALUES ('queued', 40, 0)$$, 'a queued job: the selection frozen, nothing done');
SELECT is(tap.run_job(:acct, :j_tag), 6, 'batches of 7 work through 40 contacts in 6');
SELECT results_eq(format('SELECT status, total, done, failed, percent FROM customercard.bulk_progress WHERE job = %s', :j_tag),
    $$VALUES ('done', 40, 40, 0, 100.0)$$, 'the job is done, every contact counted');
SELECT is((SELECT count(*) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
            WHERE ct.account_id = :acct AND t.name = 'promo'), 40::bigint, 'add_tag tagged them all');
SELECT results_eq(format($$SELECT count(*), min(actor), max(actor) FROM customercard.action_log
                            WHERE account_id = %s AND event = 'tag_added' AND details ->> 'tag' = 'promo'$$, :acct),
    $$VALUES (40::bigint, 'manager:olga', 'manager:olga')$$, 'one logged tag_added each, with the actor who queued the job');
SELECT is(customercard.bulk_prune(), 0::bigint, 'bulk_prune: no job is old enough to go');
SELECT is((SELECT count(*) FROM customercard.bulk_job_items WHERE account_id = :acct AND job_id = :j_tag), 0::bigint,
    '... deletes what a finished job leaves behind');
SELECT is((SELECT count(*) FROM customercard.bulk_progress WHERE job = :j_tag), 1::bigint, '... and keeps the recent job itself');

-- again: idempotent, nothing doubled
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "promo"}', filter => '{"search": "Bulk person"}') AS j_tag2 \gset
SELECT tap.run_job(:acct, :j_tag2);
SELECT is((SELECT count(*) FROM customercard.action_log WHERE account_id = :acct AND event = 'tag_added' AND details ->> 'tag' = 'promo'),
    40::bigint, 'the same tag again adds no rows and no log events');

SELECT customercard.bulk_enqueue('remove_tag', '{"tag": "promo"}', (SELECT array_agg(contact_id) FROM people WHERE contact_id % 4 = 0)) AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT is((SELECT count(*) FROM customercard.contact_tags WHERE account_id = :acct), 30::bigint, 'remove_tag took it from the chosen ten');

SELECT customercard.bulk_enqueue('subscribe', format('{"funnel": "Webinar funnel", "lgt": %s}', :lgt)::jsonb,
                                 (SELECT array_agg(contact_id) FROM people WHERE contact_id <= :first + 9)) AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT results_eq(format('SELECT count(*), count(*) FILTER (WHERE lgt_id = %s AND unsubscribed_at IS NULL) FROM customercard.subscriptions WHERE account_id = %s', :lgt, :acct),
    $$VALUES (10::bigint, 10::bigint)$$, 'subscribe: ten subscriptions through the LGT');
SELECT customercard.bulk_enqueue('unsubscribe', '{"funnel": "Webinar funnel"}', filter => '{}') AS j \gset
SELECT tap.run_job(:acct, :j, 5000);
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE account_id = :acct AND unsubscribed_at IS NOT NULL), 10::bigint,
    'unsubscribe: all of them');
SELECT is((SELECT count(*) FROM customercard.action_log WHERE account_id = :acct AND event = 'unsubscribed'), 10::bigint, '... logged');

SELECT customercard.bulk_enqueue('add_to_sales_plan', format('{"plan": "Spring sale", "manager_id": %s}', :olga)::jsonb,
                                 filter => '{"tag": "promo"}') AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT is((SELECT count(*) FROM customercard.sales_plan_members WHERE account_id = :acct AND manager_id = :olga), 30::bigint,
    'add_to_sales_plan: the tagged thirty, with their manager');

SELECT customercard.bulk_enqueue('create_channel', '{"kind": "email", "connection": "unisender"}', filter => '{"search": "Bulk person"}') AS j_ch \gset
SELECT tap.run_job(:acct, :j_ch);
SELECT results_eq(format('SELECT done, failed FROM customercard.bulk_progress WHERE job = %s', :j_ch), $$VALUES (20, 20)$$,
    'create_channel: twenty with an e-mail done, twenty failed');
SELECT results_eq(format('SELECT DISTINCT reason FROM customercard.bulk_failures WHERE job = %s', :j_ch),
    $$VALUES ('the contact has no e-mail address')$$, '... each failure kept with its reason');
SELECT is((SELECT count(*) FROM customercard.channels WHERE account_id = :acct AND kind = 'email' AND external_id LIKE 'bulk%@example.com'), 20::bigint,
    '... channels made from the contacts'' addresses');
SELECT customercard.bulk_enqueue('create_channel', '{"kind": "sms"}', filter => '{"search": "Bulk person"}') AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT is((SELECT count(*) FROM customercard.channels WHERE account_id = :acct AND kind = 'sms' AND external_id LIKE '+7900%'), 13::bigint,
    'create_channel sms: from the phones (E.164)');

SELECT customercard.bulk_enqueue('assign_manager', format('{"manager_id": %s}', :olga)::jsonb, filter => '{"search": "Bulk person"}') AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT customercard.bulk_enqueue('set_field', '{"field": "city", "value": "Kazan"}', filter => '{"search": "Bulk person"}') AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT customercard.bulk_enqueue('set_field', '{"field": "Source", "value": "spring fair"}', filter => '{"search": "Bulk person"}') AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT results_eq(format($$SELECT count(*) FILTER (WHERE manager_id = %s), count(*) FILTER (WHERE city = 'Kazan'),
                                  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM customercard.custom_values v WHERE v.account_id = c.account_id
                                                                   AND v.contact_id = c.contact_id AND v.value = 'spring fair'))
                             FROM customercard.contacts c WHERE c.account_id = %s AND c.name LIKE 'Bulk person%%'$$, :olga, :acct),
    $$VALUES (40::bigint, 40::bigint, 40::bigint)$$, 'assign_manager, set_field on a column and on a custom field');

SELECT customercard.bulk_enqueue('blacklist', contact_ids => (SELECT array_agg(contact_id) FROM people WHERE contact_id <= :first + 1)) AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT customercard.bulk_enqueue('archive', contact_ids => (SELECT array_agg(contact_id) FROM people WHERE contact_id BETWEEN :first + 2 AND :first + 4)) AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT customercard.bulk_enqueue('unarchive', contact_ids => (SELECT array_agg(contact_id) FROM people WHERE contact_id BETWEEN :first + 3 AND :first + 4)) AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT customercard.bulk_enqueue('delete', contact_ids => ARRAY[:last::bigint]) AS j \gset
SELECT tap.run_job(:acct, :j);
SELECT results_eq(format($$SELECT status, count(*) FROM customercard.contacts WHERE account_id = %s AND name LIKE 'Bulk person%%' AND deleted_at IS NULL
                            GROUP BY status ORDER BY status$$, :acct),
    $$VALUES ('active', 36::bigint), ('archived', 1::bigint), ('blacklisted', 2::bigint)$$, 'blacklist, archive, unarchive, delete');

-- contacts merged or deleted after the enqueue
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "late"}', ARRAY[:first + 5, :first + 6, :last]::bigint[]) AS j \gset
SELECT customercard.merge(:first + 7, :first + 6);
SELECT tap.run_job(:acct, :j);
SELECT results_eq(format($$SELECT ct.contact_id FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
                            WHERE ct.account_id = %s AND t.name = 'late' ORDER BY 1$$, :acct),
    format('VALUES (%s::bigint), (%s::bigint)', :first + 5, :first + 7), 'a contact merged since is worked on through its survivor');
SELECT results_eq(format('SELECT contact_id, reason FROM customercard.bulk_failures WHERE job = %s', :j),
    format($$VALUES (%s::bigint, 'the contact was deleted')$$, :last), 'a contact deleted since is a failure with its reason');

-- export
SELECT customercard.bulk_enqueue('export', filter => '{"search": "Bulk person 1"}') AS j_exp \gset
SELECT tap.run_job(:acct, :j_exp, 4);
SELECT is(split_part(customercard.bulk_export_csv(:j_exp), E'\r\n', 1), E'\uFEFFcontact_id,name,phone,email,status,created_at_utc,tags,channel,connection,social_id,Source',
    'export: a byte order mark, then the header with the custom fields as columns');
SELECT is(array_length(string_to_array(rtrim(customercard.bulk_export_csv(:j_exp), E'\r\n'), E'\r\n'), 1), 14,
    '... the header and a line per contact (names with "1": 1, 10-19, 21, 31)');
SELECT ok(customercard.bulk_export_csv(:j_exp) LIKE '%,"late; promo",,,,spring fair%' OR customercard.bulk_export_csv(:j_exp) LIKE '%,promo,,,,spring fair%',
    '... tags joined, custom values in their column');
SELECT throws_ok(format('SELECT customercard.bulk_export_csv(%s)', :j_tag), '42704', NULL, 'bulk_export_csv of a job that is no export');

-- cancel, run_at
SELECT customercard.bulk_enqueue('archive', filter => '{"search": "Bulk person"}', run_at => now() + interval '1 hour') AS j_later \gset
SELECT is(tap.run_job(:acct, :j_later), 0, 'a job due later is not run now');
SELECT is(customercard.bulk_cancel(:j_later), true, 'bulk_cancel');
SELECT results_eq(format('SELECT status FROM customercard.bulk_progress WHERE job = %s', :j_later), $$VALUES ('cancelled')$$, '... the job is cancelled');
SELECT is(customercard.bulk_cancel(:j_later), false, '... cancelling again changes nothing');
SELECT throws_ok('SELECT customercard.bulk_cancel(-1)', '42704', NULL, 'cancelling an unknown job');

-- the cron registration: this database is not pg_cron's
SELECT throws_ok('SELECT customercard.schedule_bulk_runner()', '55000', NULL, 'schedule_bulk_runner outside the cron database');
SELECT matches(tap.hint_of('SELECT customercard.schedule_bulk_runner()'),
    $$run: SELECT cron\.schedule_in_database\('customercard-bulk-runner-[a-z_]+', '\* \* \* \* \*', 'CALL customercard\.bulk_run\(\)'$$,
    '... its hint gives the command to run in the cron database');

-- roles: a reader may not queue; a manager runs only its own account's jobs
SELECT customercard.create_account('Bulk other', 'RU', 'RUB') AS other \gset
SET customercard.account_id = :other;
INSERT INTO customercard.contacts (name) VALUES ('Other person') RETURNING contact_id AS o \gset
SELECT customercard.bulk_enqueue('archive', contact_ids => ARRAY[:o]::bigint[]) AS j_other \gset
SET customercard.account_id = :acct;
CREATE ROLE cc_t_bulk_reader IN ROLE customercard_reader;
CREATE ROLE cc_t_bulk_manager IN ROLE customercard_manager;
SELECT customercard.bind_role('cc_t_bulk_reader', :acct), customercard.bind_role('cc_t_bulk_manager', :acct);
SET ROLE cc_t_bulk_reader;
SELECT throws_ok($$SELECT customercard.bulk_enqueue('archive', filter => '{}')$$, '42501', NULL, 'a reader cannot queue bulk jobs');
SET ROLE cc_t_bulk_manager;
SELECT throws_ok(format('SELECT customercard.bulk_run_batch(%s, %s, 100)', :other, :j_other), '42501', NULL,
    'a manager cannot run another account''s job');
SELECT is((SELECT count(*) FROM customercard.bulk_progress WHERE job = :j_other), 0::bigint, '... nor see it');
RESET ROLE;
SELECT is((SELECT status FROM customercard.contacts WHERE contact_id = :o), 'active', 'the other account''s contact is untouched');

-- a job's time and batch are bounded: -infinity would put it before every
-- other account's jobs for good, a batch of 0 would end it having done nothing
SELECT throws_ok($$SELECT customercard.bulk_enqueue('archive', filter => '{}', run_at => '-infinity')$$, '22007', NULL,
    'run_at -infinity is refused');
SELECT throws_ok($$SELECT customercard.bulk_enqueue('archive', filter => '{}', run_at => 'infinity')$$, '22007', NULL,
    'run_at infinity is refused');
SELECT throws_ok(format('SELECT customercard.bulk_run_batch(%s, %s, 0)', :acct,
                        customercard.bulk_enqueue('archive', contact_ids => ARRAY[(SELECT min(contact_id) FROM customercard.contacts WHERE account_id = :acct)])),
    '22023', NULL, 'a batch of 0 contacts is refused (it would end the job having done nothing)');

SELECT * FROM finish();
ROLLBACK;
