-- Row guards: the action log is append-only for every statement of every
-- role (superuser included), and only the owner or a superuser can turn the
-- guards aside; points follow their ledger both ways; updated_at is stamped.
BEGIN;
SELECT plan(21);

SELECT customercard.upsert_contact('{"name": "Guarded"}') AS c \gset
INSERT INTO customercard.action_log (contact_id, event, details) VALUES (:c, 'crm_exported', '{"crm": "amoCRM"}');

SELECT throws_ok('UPDATE customercard.action_log SET event = ''forgotten''', '42501',
    'rows of customercard.action_log cannot be updated', 'the log cannot be updated, even by a superuser');
SELECT throws_ok('DELETE FROM customercard.action_log', '42501',
    'rows of customercard.action_log cannot be deleted', 'the log cannot be deleted from');
SELECT throws_ok('TRUNCATE customercard.action_log', '42501',
    'rows of customercard.action_log cannot be truncated', 'the log cannot be truncated');
SELECT is((SELECT count(*)::int FROM customercard.action_log WHERE contact_id = :c AND event = 'crm_exported'), 1, 'the log row is still there');
SELECT throws_ok(format('INSERT INTO customercard.action_log (contact_id, event) VALUES (%s, ''party'')', :c), '23514', NULL,
    'an unknown event kind is refused');

-- archiving: old rows move to action_log_archive, by a superuser only
INSERT INTO customercard.action_log (contact_id, event, at) VALUES (:c, 'crm_exported', '2020-01-01'), (:c, 'crm_exported', '2020-02-01');
SELECT is(customercard.archive_action_log('2021-01-01'), 2::bigint, 'archive_action_log moves the rows older than the cut-off');
SELECT is((SELECT count(*)::int FROM customercard.action_log WHERE contact_id = :c AND at < '2021-01-01'), 0, '... out of the log');
SELECT is((SELECT count(*)::int FROM customercard.action_log_archive WHERE contact_id = :c), 2, '... into the archive, ids kept');
SELECT throws_ok('UPDATE customercard.action_log_archive SET event = ''forgotten''', '42501', NULL, 'archived rows cannot be changed');
SELECT throws_ok('DELETE FROM customercard.action_log WHERE at < ''2030-01-01''', '42501', NULL,
    'outside archiving, the log still refuses deletes');
CREATE ROLE cc_t_archivist LOGIN IN ROLE customercard_admin;
SET SESSION AUTHORIZATION cc_t_archivist;
SELECT throws_ok('SELECT customercard.archive_action_log(now())', '42501', NULL, 'an admin role cannot archive: a superuser''s job');
-- what turns the triggers aside is the owner's and a superuser's alone
SELECT throws_ok('SET session_replication_role = replica', '42501', NULL,
    'an admin role cannot set session_replication_role (which skips the log''s triggers)');
SELECT throws_ok('ALTER TABLE customercard.action_log DISABLE TRIGGER ALL', '42501', NULL,
    '... nor disable the log''s triggers');
RESET SESSION AUTHORIZATION;
-- and a superuser can: the guards stop every statement, not a superuser who turns them off
SET LOCAL session_replication_role = replica;
DELETE FROM customercard.action_log WHERE contact_id = :c AND event = 'crm_exported';
SELECT is((SELECT count(*)::int FROM customercard.action_log WHERE contact_id = :c AND event = 'crm_exported'), 0,
    'a superuser with session_replication_role = replica does delete log rows (docs/security.md says so)');
SET LOCAL session_replication_role = origin;

-- points: a hand edit becomes a ledger row; a ledger row moves the balance
UPDATE customercard.contacts SET points = 25 WHERE contact_id = :c;
SELECT results_eq(format('SELECT amount, reason FROM customercard.balance_transactions WHERE contact_id = %s', :c),
    $$VALUES (25.00::numeric(14,2), 'manual edit'::text)$$, 'editing points writes the difference to the ledger');
INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason) VALUES (:c, 'points', -40, 'redeemed');
SELECT is((SELECT points FROM customercard.contacts WHERE contact_id = :c), -15::bigint, 'a ledger row moves points, below zero too');
INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason) VALUES (:c, 'bonus', 100, 'gift');
SELECT is((SELECT points FROM customercard.contacts WHERE contact_id = :c), -15::bigint, 'other currencies leave points alone');
SELECT is((SELECT sum(amount) FROM customercard.balance_transactions WHERE contact_id = :c AND currency = 'points'),
    (SELECT points FROM customercard.contacts WHERE contact_id = :c)::numeric, 'points equal the sum of their ledger');
SELECT throws_ok(format('INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason) VALUES (%s, ''points'', 1.5, ''x'')', :c),
    '23514', NULL, 'points move in whole numbers');

-- updated_at
UPDATE customercard.contacts SET updated_at = '2000-01-01' WHERE contact_id = :c;
SELECT ok((SELECT updated_at FROM customercard.contacts WHERE contact_id = :c) = statement_timestamp()
          OR (SELECT updated_at FROM customercard.contacts WHERE contact_id = :c) > '2001-01-01',
    'updated_at is stamped by the database, not taken from the caller');
SELECT throws_ok('SET customercard.account_id = ''abc''', '22023', 'invalid value for customercard.account_id: "abc"',
    'a malformed account setting is refused');

SELECT * FROM finish();
ROLLBACK;
