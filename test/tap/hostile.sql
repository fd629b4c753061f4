-- A hostile manager tries to evade or forge the log:
-- columns that record what the system decided (ids, merged_into,
-- forgotten_at, the author/actor/time of comments, ledger rows and tags)
-- are refused to managers; row_security = off around a COPY does not pass
-- for a restore; merged and forgotten cards are still logged when edited;
-- log_event writes only outside events, marked as such.  Also: a task
-- becomes done (and open again) by its status alone.
BEGIN;
SELECT plan(37);

GRANT ALL ON ALL TABLES IN SCHEMA pg_temp TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA pg_temp TO PUBLIC;

CREATE ROLE cc_h_mgr LOGIN IN ROLE customercard_manager;
CREATE ROLE cc_h_admin LOGIN IN ROLE customercard_admin;
SELECT customercard.create_account('Shop B', 'DE', 'EUR') AS b \gset
SELECT account_id AS a FROM customercard.accounts WHERE is_default \gset
SELECT customercard.bind_role('cc_h_mgr', :a);
SELECT customercard.bind_role('cc_h_admin', :a);
SELECT customercard.upsert_contact('{"name": "Anna", "emails": ["anna@example.com"]}') AS a1 \gset
SELECT customercard.upsert_contact('{"name": "Anna P.", "emails": ["anna.p@example.com"]}') AS a2 \gset
SELECT customercard.upsert_contact('{"name": "Boris"}') AS a3 \gset
INSERT INTO customercard.tags (name) VALUES ('vip');
SET customercard.account_id = :'b';
SELECT customercard.upsert_contact('{"name": "B one"}') AS b1 \gset
RESET customercard.account_id;

-- log rows of a contact, of one event kind
CREATE FUNCTION pg_temp.events(c bigint, e text) RETURNS integer LANGUAGE sql AS
    $$ SELECT count(*)::integer FROM customercard.action_log WHERE contact_id = c AND event = e $$;
GRANT EXECUTE ON FUNCTION pg_temp.events(bigint, text) TO PUBLIC;

SET SESSION AUTHORIZATION cc_h_mgr;
SET customercard.actor = 'manager:7';

-- ------------------------------------------------ columns the extension sets
SELECT throws_ok(format('UPDATE customercard.contacts SET name = %L, forgotten_at = now() WHERE contact_id = %s', 'x', :a1),
    '42501', NULL, 'a manager cannot fake an erasure (forgotten_at)');
SELECT throws_ok(format('UPDATE customercard.contacts SET merged_into = %s WHERE contact_id = %s', :a2, :a1),
    '42501', NULL, 'a manager cannot fake a merge (merged_into)');
SELECT throws_ok(format('UPDATE customercard.contacts SET merged_into = NULL WHERE contact_id = %s', :a1),
    '42501', NULL, '... nor write merged_into at all');
SELECT throws_ok(format('INSERT INTO customercard.contacts (contact_id, name) VALUES (%s, ''squatter'')', :b1 + 1000),
    '42501', NULL, 'a manager cannot choose a contact id (one another account may use)');
SELECT throws_ok(format('UPDATE customercard.contacts SET contact_id = contact_id + 1000 WHERE contact_id = %s', :a3),
    '42501', NULL, '... nor change one');
SELECT lives_ok('INSERT INTO customercard.contacts (name) VALUES (''plain'')', 'a manager still creates contacts, ids from the sequence');
SELECT throws_ok(format('INSERT INTO customercard.comments (contact_id, body, author) VALUES (%s, ''hi'', ''manager:1'')', :a1),
    '42501', NULL, 'a comment''s author is the session''s actor, not the writer''s choice');
SELECT throws_ok(format('INSERT INTO customercard.comments (contact_id, body, created_at) VALUES (%s, ''hi'', ''2001-01-01'')', :a1),
    '42501', NULL, '... and its time too');
SELECT throws_ok(format('INSERT INTO customercard.comments (comment_id, contact_id, body) VALUES (1, %s, ''hi'')', :a1),
    '42501', NULL, '... and its id');
SELECT lives_ok(format('INSERT INTO customercard.comments (contact_id, body) VALUES (%s, ''called'')', :a1), 'a plain comment is fine');
SELECT is((SELECT author FROM customercard.comments WHERE contact_id = :a1 ORDER BY comment_id DESC LIMIT 1), 'manager:7',
    '... and records the actor');
SELECT throws_ok(format('INSERT INTO customercard.contact_tags (contact_id, tag_id, added_by) SELECT %s, tag_id, ''system'' FROM customercard.tags', :a1),
    '42501', NULL, 'a tag''s added_by is not the writer''s choice');
SELECT throws_ok(format('INSERT INTO customercard.contact_tags (contact_id, tag_id, added_at) SELECT %s, tag_id, ''2001-01-01'' FROM customercard.tags', :a1),
    '42501', NULL, '... nor its added_at');
SELECT throws_ok(format('INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason, actor) VALUES (%s, ''points'', 5, ''gift'', ''system'')', :a1),
    '42501', NULL, 'a ledger row''s actor is not the writer''s choice');
SELECT throws_ok(format('INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason, at) VALUES (%s, ''points'', 5, ''gift'', ''2001-01-01'')', :a1),
    '42501', NULL, '... nor its time');

-- ------------------------------------------------ a COPY is not a restore
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "copied"}', ARRAY[:a1, :a2, :a3]::bigint[]) AS job \gset
-- (\copy takes no variables: the batch's arguments wait in a function)
SELECT format('CREATE FUNCTION pg_temp.one_batch() RETURNS integer LANGUAGE sql AS %L',
              format('SELECT customercard.bulk_run_batch(%s, %s, 10)', :a, :job)) AS f \gset
RESET SESSION AUTHORIZATION;
:f;
GRANT EXECUTE ON FUNCTION pg_temp.one_batch() TO PUBLIC;
SET SESSION AUTHORIZATION cc_h_mgr;
SET customercard.actor = 'manager:7';
SET row_security = off;
\copy (SELECT pg_temp.one_batch()) TO '/dev/null'
RESET row_security;
SELECT is((SELECT count(*)::integer FROM customercard.action_log WHERE event = 'tag_added' AND details ->> 'tag' = 'copied'), 3,
    'row_security = off around COPY (SELECT <a writer>) TO does not pass for a restore: every change is logged');

-- ------------------------------------------------ merged and forgotten cards are still logged
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION cc_h_admin;
SET customercard.actor = 'admin:1';
SELECT customercard.merge(:a1, :a2);
SELECT customercard.forget_contact(:a3);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION cc_h_mgr;
SET customercard.actor = 'manager:7';
UPDATE customercard.contacts SET note = 'edited after the merge' WHERE contact_id = :a2;
SELECT is((SELECT count(*)::integer FROM customercard.action_log
            WHERE contact_id = :a2 AND event = 'field_changed' AND details ->> 'field' = 'note' AND actor = 'manager:7'), 1,
    'editing a merged contact is logged');
UPDATE customercard.contacts SET note = 'edited after the erasure' WHERE contact_id = :a3;
SELECT is((SELECT count(*)::integer FROM customercard.action_log
            WHERE contact_id = :a3 AND event = 'field_changed' AND details ->> 'field' = 'note' AND actor = 'manager:7'), 1,
    'editing a forgotten contact is logged');

-- ------------------------------------------------ log_event: outside events only
SELECT throws_ok(format('SELECT customercard.log_event(%s, ''payment_succeeded'', ''{"amount": 1000000}'')', :a1),
    '42501', NULL, 'log_event cannot forge a payment');
SELECT throws_ok(format('SELECT customercard.log_event(%s, ''merged'')', :a1), '42501', NULL, '... nor a merge');
SELECT throws_ok(format('SELECT customercard.log_event(%s, ''forgotten'')', :a1), '42501', NULL, '... nor an erasure');
SELECT throws_ok(format('SELECT customercard.log_event(%s, ''party'')', :a1), '22023', NULL, 'an unknown event is 22023');
SELECT lives_ok(format('SELECT customercard.log_event(%s, ''crm_exported'', ''{"crm": "amoCRM", "via": "trigger"}'')', :a1),
    'an outside event is written');
SELECT is((SELECT details ->> 'via' FROM customercard.action_log WHERE contact_id = :a1 AND event = 'crm_exported'), 'log_event',
    '... marked as written through log_event (a caller''s own "via" does not survive)');
SELECT is((SELECT count(*)::integer FROM customercard.action_log WHERE contact_id = :a1 AND event <> 'crm_exported' AND details ? 'via'), 0,
    'the extension''s own rows carry no "via": a reader tells them apart');

-- ------------------------------------------------ event kinds an admin registers
SELECT throws_ok(format('SELECT customercard.log_event(%s, ''amocrm.deal_won'')', :a1), '22023', NULL,
    'a kind nobody registered is 22023');
SELECT throws_ok($$SELECT customercard.register_event_kind('amocrm.deal_won', 'Deal won in amoCRM')$$, '42501', NULL,
    'a manager cannot register event kinds');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION cc_h_admin;
SET customercard.actor = 'admin:1';
SELECT throws_ok($$SELECT customercard.register_event_kind('payment_succeeded', 'x')$$, '22023', NULL,
    'an admin cannot register a kind of the extension''s (a registered kind is source.event)');
SELECT throws_ok($$SELECT customercard.register_event_kind('party', 'x')$$, '22023', NULL,
    '... nor a name without its source');
SELECT lives_ok($$SELECT customercard.register_event_kind('amocrm.deal_won', 'Deal won in amoCRM')$$,
    'an admin registers amocrm.deal_won for the account');
SELECT throws_ok($$INSERT INTO customercard.event_kinds (kind, description, registered_by) VALUES ('x.y', 'z', 'admin:2')$$, '42501', NULL,
    '... whose registration names its real actor (registered_by is the extension''s)');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION cc_h_mgr;
SET customercard.actor = 'manager:7';
SELECT lives_ok(format('SELECT customercard.log_event(%s, ''amocrm.deal_won'', ''{"deal": 42}'')', :a1),
    'a manager logs the registered kind');
SELECT is((SELECT details ->> 'via' || ' ' || actor FROM customercard.action_log WHERE contact_id = :a1 AND event = 'amocrm.deal_won'),
    'log_event manager:7', '... marked as written through log_event, with the actor');
SELECT is((SELECT registered_by FROM customercard.event_kinds WHERE kind = 'amocrm.deal_won'), 'admin:1',
    'the registration records who registered the kind');
RESET SESSION AUTHORIZATION;
SET customercard.account_id = :'b';
SELECT throws_ok(format('SELECT customercard.log_event(%s, ''amocrm.deal_won'')', :b1), '22023', NULL,
    'a kind registered in one account is unknown in another');
RESET customercard.account_id;
SET SESSION AUTHORIZATION cc_h_mgr;
SET customercard.actor = 'manager:7';

-- ------------------------------------------------ tasks: done by status alone
INSERT INTO customercard.tasks (contact_id, title) VALUES (:a1, 'Send the invoice');
UPDATE customercard.tasks SET status = 'done' WHERE contact_id = :a1;
SELECT ok((SELECT status = 'done' AND done_at IS NOT NULL FROM customercard.tasks WHERE contact_id = :a1),
    'UPDATE tasks SET status = ''done'' makes the task done and stamps done_at');
UPDATE customercard.tasks SET status = 'open' WHERE contact_id = :a1;
SELECT ok((SELECT status = 'open' AND done_at IS NULL FROM customercard.tasks WHERE contact_id = :a1),
    '... and reopening clears it');

RESET SESSION AUTHORIZATION;
SELECT * FROM finish();
ROLLBACK;
