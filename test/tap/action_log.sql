-- The action log: every event kind fires once for its change, with the
-- actor and the statement's time; bulk statements log every row; app roles
-- log without being able to write the log themselves; log_event checks.
BEGIN;
SELECT plan(56);

SET customercard.actor = 'manager:42';
CREATE TEMP TABLE seen AS SELECT 0::bigint AS last;
GRANT ALL ON ALL TABLES IN SCHEMA pg_temp TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA pg_temp TO PUBLIC;
-- the events logged since the previous call, as "event" or "event:field"
CREATE FUNCTION pg_temp.new_events() RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; m bigint;
BEGIN
    SELECT string_agg(event || coalesce(':' || (details ->> 'field'), ''), ',' ORDER BY log_id), max(log_id)
      INTO r, m FROM customercard.action_log WHERE log_id > (SELECT last FROM seen);
    UPDATE seen SET last = coalesce(m, last);
    RETURN r;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.new_events() TO PUBLIC;

INSERT INTO customercard.managers (manager_id, name) VALUES (42, 'Olga');
INSERT INTO customercard.contacts (name) VALUES ('Anna') RETURNING contact_id AS c \gset
SELECT is(pg_temp.new_events(), 'contact_created', 'contact_created');
SELECT is((SELECT actor FROM customercard.action_log ORDER BY log_id DESC LIMIT 1), 'manager:42', 'the actor comes from customercard.actor');
SELECT ok((SELECT at FROM customercard.action_log ORDER BY log_id DESC LIMIT 1) BETWEEN now() AND statement_timestamp(),
    'at is the time of the statement that made the change');

UPDATE customercard.contacts SET name = 'Anna P', note = 'vip', gender = 'female', timezone = 'Europe/Moscow', manager_id = 42 WHERE contact_id = :c;
SELECT is(pg_temp.new_events(), 'field_changed:name,field_changed:gender,field_changed:timezone,field_changed:note,field_changed:manager',
    'field_changed once per changed field');
SELECT is((SELECT details FROM customercard.action_log WHERE event = 'field_changed' AND details ->> 'field' = 'name'),
    '{"field": "name", "old": "Anna", "new": "Anna P"}'::jsonb, 'field_changed holds the old and the new value');
UPDATE customercard.contacts SET name = 'Anna P' WHERE contact_id = :c;
SELECT is(pg_temp.new_events(), NULL, 'an update that changes nothing logs nothing');
UPDATE customercard.contacts SET points = 10 WHERE contact_id = :c;
SELECT is(pg_temp.new_events(), 'field_changed:points', 'points edits are logged');
UPDATE customercard.contacts SET status = 'archived' WHERE contact_id = :c;
SELECT is(pg_temp.new_events(), 'archived', 'archived');
UPDATE customercard.contacts SET status = 'active' WHERE contact_id = :c;
SELECT is(pg_temp.new_events(), 'unarchived', 'unarchived');
UPDATE customercard.contacts SET status = 'blacklisted' WHERE contact_id = :c;
SELECT is(pg_temp.new_events(), 'field_changed:status', 'other status changes are field changes');

INSERT INTO customercard.phones (contact_id, phone, is_primary) VALUES (:c, '79123456789', true);
SELECT is(pg_temp.new_events(), 'field_changed:phone', 'a new phone');
UPDATE customercard.phones SET phone = '79120000000' WHERE contact_id = :c;
SELECT is((SELECT details FROM customercard.action_log ORDER BY log_id DESC LIMIT 1),
    '{"field": "phone", "old": "+79123456789", "new": "+79120000000"}'::jsonb, 'a changed phone, old and new');
SELECT is(pg_temp.new_events(), 'field_changed:phone', '... one event');
INSERT INTO customercard.emails (contact_id, email) VALUES (:c, 'anna@example.com');
SELECT is(pg_temp.new_events(), 'field_changed:email', 'a new e-mail');

INSERT INTO customercard.channels (channel_id, contact_id, kind, external_id) VALUES (900, :c, 'email', 'anna@example.com');
SELECT is(pg_temp.new_events(), 'channel_created', 'channel_created');
INSERT INTO customercard.tags (tag_id, name) VALUES (900, 'vip');
INSERT INTO customercard.contact_tags (contact_id, tag_id) VALUES (:c, 900);
SELECT is((SELECT event || ' ' || (details ->> 'tag') FROM customercard.action_log ORDER BY log_id DESC LIMIT 1), 'tag_added vip',
    'tag_added names the tag');
DELETE FROM customercard.contact_tags WHERE contact_id = :c;
SELECT is(pg_temp.new_events(), 'tag_added,tag_removed', 'tag_removed');
INSERT INTO customercard.custom_fields (field_id, name) VALUES (900, 'Source');
INSERT INTO customercard.custom_values (contact_id, field_id, value) VALUES (:c, 900, 'vk');
UPDATE customercard.custom_values SET value = 'instagram' WHERE contact_id = :c;
SELECT is(pg_temp.new_events(), 'custom_field_set:Source,custom_field_set:Source', 'custom_field_set, naming the field, on set and change');

INSERT INTO customercard.funnels (funnel_id, name) VALUES (900, 'Free lesson');
INSERT INTO customercard.subscriptions (subscription_id, contact_id, channel_id, funnel_id) VALUES (900, :c, 900, 900);
SELECT is((SELECT event || ' ' || (details ->> 'funnel') FROM customercard.action_log ORDER BY log_id DESC LIMIT 1),
    'subscribed Free lesson', 'subscribed names the funnel');
UPDATE customercard.subscriptions SET unsubscribed_at = now() WHERE subscription_id = 900;
SELECT is(pg_temp.new_events(), 'subscribed,unsubscribed', 'unsubscribed');
DELETE FROM customercard.subscriptions WHERE subscription_id = 900;
DELETE FROM customercard.channels WHERE channel_id = 900;
SELECT is(pg_temp.new_events(), 'row_deleted,channel_deleted', 'a deleted subscription, channel_deleted');

INSERT INTO customercard.orders (order_id, contact_id, number, offer, amount, currency) VALUES (900, :c, 'N-900', 'Course', 100, 'RUB');
SELECT is(pg_temp.new_events(), 'order_created', 'order_created');
UPDATE customercard.orders SET status = 'pending' WHERE order_id = 900;
SELECT is((SELECT details FROM customercard.action_log ORDER BY log_id DESC LIMIT 1),
    '{"order_id": 900, "number": "N-900", "old": "new", "new": "pending"}'::jsonb, 'order_status_changed, old and new');
SELECT is(pg_temp.new_events(), 'order_status_changed', '... one event');
INSERT INTO customercard.payments (order_id, contact_id, amount, status, error_code) VALUES (900, :c, 100, 'failed', 'card_declined');
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (900, :c, 100, 'succeeded');
SELECT is(pg_temp.new_events(), 'payment_failed,payment_succeeded,order_status_changed,row_changed',
    'payment_failed and payment_succeeded; the payment that covers the order pays it (order_status_changed, and its paid_at)');

INSERT INTO customercard.sales_plans (plan_id, name) VALUES (900, 'Upsell');
INSERT INTO customercard.sales_plan_members (plan_id, contact_id) VALUES (900, :c);
SELECT is(pg_temp.new_events(), 'sales_plan_added', 'sales_plan_added');
INSERT INTO customercard.tasks (task_id, contact_id, title, due_at) VALUES (900, :c, 'Call', '2026-12-01');
UPDATE customercard.tasks SET due_at = '2026-12-02' WHERE task_id = 900;
UPDATE customercard.tasks SET status = 'done', done_at = now() WHERE task_id = 900;
SELECT is(pg_temp.new_events(), 'task_created,task_rescheduled,task_done', 'task_created, task_rescheduled, task_done');
INSERT INTO customercard.calls (contact_id, started_at, result) VALUES (:c, now(), 'answered');
SELECT is(pg_temp.new_events(), 'call', 'call');
INSERT INTO customercard.webinar_visits (contact_id, webinar, joined_at) VALUES (:c, 'Intro', now());
SELECT is(pg_temp.new_events(), 'webinar_viewed', 'webinar_viewed');
INSERT INTO customercard.page_visits (contact_id, url) VALUES (:c, 'https://example.com/pro');
SELECT is(pg_temp.new_events(), 'page_visited', 'page_visited');
INSERT INTO customercard.groups (group_id, name) VALUES (900, 'Stream');
INSERT INTO customercard.group_members (group_id, contact_id) VALUES (900, :c);
SELECT is(pg_temp.new_events(), 'membership', 'membership');
INSERT INTO customercard.comments (contact_id, body) VALUES (:c, 'hello');
SELECT is(pg_temp.new_events(), 'comment_added', 'comment_added');
UPDATE customercard.contacts SET deleted_at = now() WHERE contact_id = :c;
SELECT is(pg_temp.new_events(), 'contact_deleted', 'contact_deleted');
SELECT customercard.log_event(:c, 'crm_exported', '{"crm": "amoCRM"}');
SELECT is(pg_temp.new_events(), 'crm_exported', 'log_event records an outside event');

-- bulk statements log every row
INSERT INTO customercard.contacts (name) SELECT 'bulk ' || i FROM generate_series(1, 3000) i;
SELECT is((SELECT count(*)::int FROM customercard.action_log WHERE log_id > (SELECT last FROM seen) AND event = 'contact_created'),
    3000, 'a 3000-row INSERT logs 3000 contact_created');
UPDATE customercard.contacts SET note = 'bulk' WHERE name LIKE 'bulk %';
SELECT is((SELECT count(*)::int FROM customercard.action_log WHERE log_id > (SELECT last FROM seen) AND event = 'field_changed'),
    3000, 'a 3000-row UPDATE logs 3000 field changes');
SELECT is((SELECT count(DISTINCT at)::int FROM customercard.action_log WHERE log_id > (SELECT last FROM seen)), 2,
    'each bulk statement''s rows share its time');
SELECT pg_temp.new_events() IS NOT NULL;

-- a manager's change is logged though the manager cannot write the log
CREATE ROLE cc_t_logger LOGIN IN ROLE customercard_manager;
SELECT customercard.bind_role('cc_t_logger', (SELECT account_id FROM customercard.accounts WHERE is_default));
SET SESSION AUTHORIZATION cc_t_logger;
SELECT throws_ok(format('INSERT INTO customercard.action_log (contact_id, event) VALUES (%s, ''forgotten'')', :c), '42501', NULL,
    'a manager cannot write log rows directly');
INSERT INTO customercard.tasks (contact_id, title) VALUES (:c, 'from a manager');
SELECT is(pg_temp.new_events(), 'task_created', 'a manager''s change is logged');
SELECT throws_ok(format('SELECT customercard.log_event(%s, ''party'')', :c), '22023', 'unknown action log event "party"',
    'log_event refuses an unknown event');
SELECT throws_ok('SELECT customercard.log_event(987654321, ''crm_exported'')', '42704', NULL,
    'log_event refuses an unknown contact');
SELECT throws_ok(format('SELECT customercard.log_event(%s, ''crm_exported'', ''[1]'')', :c), '22023', NULL,
    'log_event details must be an object');
RESET SESSION AUTHORIZATION;

-- a rolled-back change leaves no log row
SAVEPOINT before_failure;
UPDATE customercard.contacts SET note = 'doomed' WHERE contact_id = :c;
ROLLBACK TO before_failure;
SELECT is(pg_temp.new_events(), NULL, 'a rolled-back change leaves no log row');
SELECT is((SELECT count(*)::int FROM customercard.contact_log(:c, ARRAY['task_created', 'task_done'])), 3,
    'contact_log filters by event kinds');

-- rows a COPY queued survive a later subtransaction's rollback; the
-- subtransaction's own rows do not
INSERT INTO customercard.contacts (contact_id, name) VALUES (777000001, 'Copy target');
SELECT pg_temp.new_events();
COPY customercard.comments (contact_id, body) FROM STDIN;
777000001	from copy
\.
SAVEPOINT after_copy;
UPDATE customercard.contacts SET note = 'rolled back' WHERE contact_id = 777000001;
ROLLBACK TO after_copy;
SELECT is(pg_temp.new_events(), 'comment_added', 'the COPY''s log row survives a later rollback to a savepoint');

-- card_log describes each row inline (describe_event is inlined, no function
-- call a row), and a row_* description names its section by its label
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP t := t || r || E'\n'; END LOOP;
    RETURN t;
END $$;
SELECT unalike(pg_temp.plan_of('SELECT description FROM customercard.card_log WHERE contact_id = 1'), '%describe_event%',
    'card_log''s descriptions are computed inline: describe_event is inlined');
SELECT is(customercard.describe_event('row_changed', '{"section": "webinar_registrations", "fields": {"attended": {"old": false, "new": true}}}'),
    'Webinar registration changed: attended "false" → "true"', 'a row_changed description: the section''s label and the fields');
SELECT unalike(pg_temp.plan_of('SELECT description FROM customercard.card_log WHERE contact_id = 1'), '%section_label%',
    'card_log''s descriptions name sections inline: section_label is inlined too');
SELECT is((SELECT count(*) FROM customercard.section_declarations() d
            WHERE customercard.section_label(d.tbl) IS DISTINCT FROM d.label), 0::bigint,
    'section_label gives every declared section its declared label (written from the declarations)');
SELECT is(customercard.section_label('no_such_table'), 'no_such_table', 'a table that is no section keeps its name');

-- The log's rows go straight into its heap and indexes (as COPY writes),
-- unless the table is not as the extension made it: then through INSERT.
SELECT pg_temp.new_events();
INSERT INTO customercard.contacts (name) SELECT 'Bulk ' || g FROM generate_series(1, 2600) g;
SELECT is((SELECT count(*) FROM customercard.action_log WHERE log_id > (SELECT last FROM seen)), 2600::bigint,
    'a statement of 2,600 rows logs 2,600 rows (written into the heap a thousand at a time)');
SELECT is((SELECT count(DISTINCT log_id) FROM customercard.action_log WHERE log_id > (SELECT last FROM seen)), 2600::bigint,
    '... each with its own id from the log''s sequence');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*) FROM customercard.contacts c JOIN customercard.action_log l
             ON l.account_id = c.account_id AND l.contact_id = c.contact_id AND l.event = 'contact_created'
            WHERE c.name LIKE 'Bulk %'), 2600::bigint,
    '... and each is found through the log''s contact index');
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT pg_temp.new_events();
CREATE TEMP TABLE log_seen (n bigint);
INSERT INTO log_seen VALUES (0);
CREATE FUNCTION pg_temp.count_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE log_seen SET n = n + 1; RETURN NULL; END $$;
CREATE TRIGGER dba_counts AFTER INSERT ON customercard.action_log FOR EACH ROW EXECUTE FUNCTION pg_temp.count_log();
UPDATE customercard.contacts SET note = 'counted' WHERE name LIKE 'Bulk 1%';
SELECT is((SELECT n FROM log_seen), (SELECT count(*) FROM customercard.contacts WHERE name LIKE 'Bulk 1%'),
    'a DBA''s AFTER INSERT trigger on the log fires for every log row');
DROP TRIGGER dba_counts ON customercard.action_log;
ALTER TABLE customercard.action_log ADD CONSTRAINT dba_no_robots CHECK (actor <> 'robot') NOT VALID;
SET customercard.actor = 'robot';
SELECT throws_ok($$UPDATE customercard.contacts SET note = 'robot' WHERE name LIKE 'Bulk 2%'$$, '23514', NULL,
    'a DBA''s CHECK on the log holds for the rows written straight into it');
SET customercard.actor = 'manager:42';
SELECT is((SELECT count(*) FROM customercard.contacts WHERE note = 'robot'), 0::bigint, '... and the change it refused is not made');

SELECT * FROM finish();
ROLLBACK;
