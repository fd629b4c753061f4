-- Where a subscription starts (#34 item 4): upsert_contact, imports (a
-- column, and the whole file's setting) and bulk subscribe name the funnel
-- block a new subscription starts at (subscriptions.block_id).
BEGIN;
SELECT plan(20);

SELECT customercard.create_account('Blocks', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
INSERT INTO customercard.funnels (name) VALUES ('Course') RETURNING funnel_id AS course \gset
INSERT INTO customercard.funnels (name) VALUES ('Other') RETURNING funnel_id AS other \gset
INSERT INTO customercard.funnel_blocks (funnel_id, name, position) VALUES (:course, 'Welcome', 0) RETURNING block_id AS welcome \gset
INSERT INTO customercard.funnel_blocks (funnel_id, name, position) VALUES (:course, 'Lesson 2', 1) RETURNING block_id AS lesson2 \gset
INSERT INTO customercard.funnel_blocks (funnel_id, name, position) VALUES (:other, 'Elsewhere', 0) RETURNING block_id AS elsewhere \gset
CREATE TEMP VIEW block_of AS
SELECT s.contact_id, b.name AS block FROM customercard.subscriptions s
  LEFT JOIN customercard.funnel_blocks b ON b.account_id = s.account_id AND b.block_id = s.block_id;

-- 1..7: upsert_contact
SELECT customercard.upsert_contact('{"name": "Ann", "funnel": "Course", "block": "Lesson 2"}') AS ann \gset
SELECT is((SELECT block FROM block_of WHERE contact_id = :ann), 'Lesson 2', 'upsert_contact: the subscription starts at the block named');
SELECT customercard.upsert_contact(format('{"name": "Bob", "funnel": %s, "block": %s}', :course, :welcome)::jsonb) AS bob \gset
SELECT is((SELECT block FROM block_of WHERE contact_id = :bob), 'Welcome', '... or by ids');
SELECT is((SELECT block FROM customercard.card_subscriptions WHERE contact_id = :ann), 'Lesson 2', 'card_subscriptions shows it');
SELECT customercard.upsert_contact(format('{"contact_id": %s, "funnel": "Course", "block": "Welcome"}', :ann)::jsonb) AS ignored \gset
SELECT is((SELECT block FROM block_of WHERE contact_id = :ann), 'Lesson 2', 'an open subscription keeps its block');
SELECT is(tap.sqlstate_of($$SELECT customercard.upsert_contact('{"name": "X", "block": "Welcome"}')$$), '22023',
    'a block without its funnel: 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.upsert_contact('{"name": "X", "funnel": "Course", "block": "Lesson 9"}')$$), '42704',
    'an unknown block: 42704');
SELECT is(tap.sqlstate_of(format($$SELECT customercard.upsert_contact('{"name": "X", "funnel": "Course", "block": %s}')$$, :elsewhere)), '42704',
    'another funnel''s block: 42704');

-- 8..13: imports
SELECT is(string_agg(status, ','), 'created,created', 'import_csv with a block column')
  FROM customercard.import_csv(E'name,email,funnel,block\nCsv one,one@example.com,Course,Lesson 2\nCsv two,two@example.com,Course,\n');
SELECT results_eq($$SELECT c.name, b.block FROM block_of b JOIN customercard.contacts c USING (contact_id)
                    WHERE c.name LIKE 'Csv%' ORDER BY c.name$$,
    $$VALUES ('Csv one'::text, 'Lesson 2'::text), ('Csv two', NULL)$$, '... each row''s subscription at its block (an empty cell: none)');
SELECT is(string_agg(status, ','), 'created,created', 'import_csv with the block as a setting for the whole file')
  FROM customercard.import_csv(E'name,email,block\nSet one,s1@example.com,\nSet two,s2@example.com,Welcome\n', false,
                               '{"funnel": "Course", "block": "Lesson 2"}');
SELECT results_eq($$SELECT c.name, b.block FROM block_of b JOIN customercard.contacts c USING (contact_id)
                    WHERE c.name LIKE 'Set%' ORDER BY c.name$$,
    $$VALUES ('Set one'::text, 'Lesson 2'::text), ('Set two', 'Welcome')$$, '... a row''s own block wins');
SELECT is(tap.sqlstate_of($$SELECT * FROM customercard.import_csv(E'name\nX\n', false, '{"block": "Welcome"}')$$), '22023',
    'the setting without a funnel: 22023');
SELECT is(tap.sqlstate_of($$SELECT * FROM customercard.import_csv(E'name\nX\n', false, '{"funnel": "Course", "block": "Nope"}')$$), '42704',
    'an unknown block in the settings: 42704');
SELECT is((SELECT status || ': ' || reason FROM customercard.import_json('[{"name": "Json", "funnel": "Course", "block": "Nope"}]')),
    'rejected: block "Nope" does not exist in account ' || :acct, 'a row naming an unknown block is rejected with why');

-- 14..19: bulk subscribe
SELECT customercard.upsert_contact('{"name": "Bulk one"}') AS b1 \gset
SELECT customercard.upsert_contact('{"name": "Bulk two"}') AS b2 \gset
SELECT customercard.bulk_enqueue('subscribe', '{"funnel": "Course", "block": "Lesson 2"}', ARRAY[:b1, :b2]::bigint[]) AS job \gset
SELECT cmp_ok(tap.run_job(:acct, :job), '>=', 1, 'bulk subscribe with a block');
SELECT is((SELECT array_agg(block ORDER BY contact_id) FROM block_of WHERE contact_id IN (:b1, :b2)), '{Lesson 2,Lesson 2}',
    '... every new period starts there');
SELECT customercard.bulk_undo(:job) AS undo \gset
SELECT cmp_ok(tap.run_job(:acct, :undo), '>=', 1, 'its undo');
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id IN (:b1, :b2)), 0::bigint, '... takes the subscriptions back');
SELECT is(tap.sqlstate_of($$SELECT customercard.bulk_enqueue('subscribe', '{"funnel": "Course", "block": "Nope"}', '{1}')$$), '42704',
    'bulk subscribe to an unknown block: 42704');
SELECT is(tap.sqlstate_of($$SELECT customercard.bulk_enqueue('unsubscribe', '{"funnel": "Course", "block": "Welcome"}', '{1}')$$), '22023',
    'unsubscribe takes no block: 22023');

SELECT * FROM finish();
ROLLBACK;
