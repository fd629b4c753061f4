-- Big files through the queue: import_enqueue reads the
-- file now (a malformed one queues nothing), the bulk runner imports its
-- rows in committed batches with progress, cancel and run_at; the report
-- is import_csv's, line for line; a batch that dies is redone without
-- importing a row twice.  (The runner killed for real: shell/bulk_runner.)
BEGIN;
SELECT plan(22);

SELECT customercard.create_account('Queue A', 'RU', 'RUB') AS a \gset
SELECT customercard.create_account('Queue B', 'RU', 'RUB') AS b \gset
CREATE TEMP TABLE file (csv text);
INSERT INTO file VALUES (E'name,phone,email,tags,funnel\n'
    'Anna,+7 912 000-00-01,anna@example.com,vip,\n'
    'Boris,8 912 000 00 02,,,\n'
    'Bad phone,12,,,\n'
    'Anna again,89120000001,,,\n'
    ',,,,\n'
    'No funnel,,no.funnel@example.com,,Paid course\n'
    'Carl,,carl@example.com,"a, b",\n'
    'Dora,+79120000004,,,\n');
GRANT SELECT ON file TO PUBLIC;

-- the same file through import_csv in account B: what the queue must give
SET customercard.account_id = :b;
CREATE TEMP TABLE direct AS SELECT * FROM customercard.import_csv((SELECT csv FROM file), settings => '{"tags": ["imported"]}');

SET customercard.account_id = :a;
SET customercard.actor = 'manager:1';
-- ---------------------------------------------------------------- bad files and settings queue nothing
SELECT throws_ok($$SELECT customercard.import_enqueue(convert_to(E'name,phone\n"Anna,1\n', 'UTF8'), 'csv')$$, '22P04', NULL,
                 'a malformed CSV: the same error as import_csv');
SELECT throws_ok($$SELECT customercard.import_enqueue(convert_to('name', 'UTF8'), 'xlsx')$$, '22P02', NULL, 'a file that is not .xlsx: 22P02');
SELECT throws_ok($$SELECT customercard.import_enqueue(convert_to('[{"name": "A"}]', 'UTF8'), 'yaml')$$, '22023',
                 'unknown import format "yaml"', 'an unknown format: 22023');
SELECT throws_ok($$SELECT customercard.import_enqueue('\xff00'::bytea, 'csv')$$, '22021', NULL, 'bytes that are not UTF-8 text: 22021');
SELECT throws_ok($$SELECT customercard.import_enqueue(convert_to(E'name\nA\n', 'UTF8'), 'csv', '{"bot": 1}')$$, '22023', NULL,
                 'bad settings: 22023, before the file is read');
SELECT is((SELECT count(*)::int FROM customercard.bulk_jobs WHERE account_id = :a), 0, '... none of them queued a job');

-- ---------------------------------------------------------------- the queue
SELECT customercard.import_enqueue(convert_to((SELECT csv FROM file), 'UTF8'), 'csv', '{"tags": ["imported"]}') AS job \gset
SELECT results_eq(format('SELECT action, status, total, done, failed FROM customercard.bulk_progress WHERE job = %s', :job),
    $$VALUES ('import', 'queued', 8, 0, 1)$$, 'queued: a row per line, the empty line refused at once');
SELECT is((SELECT count(*)::int FROM customercard.contacts WHERE account_id = :a), 0, '... nothing imported yet');

-- a batch that dies (the runner killed): rolled back whole, redone later
SAVEPOINT killed;
SELECT is(customercard.bulk_run_batch(:a, :job, 3), 3, 'a batch of 3 rows');
ROLLBACK TO SAVEPOINT killed;
SELECT results_eq(format('SELECT status, done, failed FROM customercard.bulk_progress WHERE job = %s', :job),
    $$VALUES ('queued', 0, 1)$$, 'a batch that died left no progress');
SELECT is(tap.run_job(:a, :job, 3), 3, 'then the runner works the 7 rows off in batches of 3');
SELECT results_eq(format('SELECT status, total, done, failed, percent FROM customercard.bulk_progress WHERE job = %s', :job),
    $$VALUES ('done', 8, 5, 3, 100.0)$$, 'done: 5 imported, 3 refused, 100%');
SELECT results_eq(format($$SELECT line, status, regexp_replace(reason, 'account \d+', 'account N') FROM customercard.import_report(%s) ORDER BY line$$, :job),
    $$SELECT line, status, regexp_replace(reason, 'account \d+', 'account N') FROM direct ORDER BY line$$,
    'import_report: the same lines, outcomes and reasons as import_csv of the file');
SELECT is((SELECT count(*)::int FROM customercard.contacts WHERE account_id = :a),
          (SELECT count(*)::int FROM customercard.contacts WHERE account_id = :b), '... the same contacts, none imported twice');
SELECT is((SELECT count(*)::int FROM customercard.card_tags WHERE tag = 'imported'), 4, 'the settings apply to every row');
SELECT results_eq(format('SELECT reason FROM customercard.bulk_failures WHERE job = %s ORDER BY reason', :job),
    $$VALUES ('line 4: "12" is not a valid phone number'), ('line 6: the line is empty'),
             ('line 7: funnel "Paid course" does not exist in account ' || current_setting('customercard.account_id'))$$,
    'bulk_failures: the rejected rows by line, with their reasons');
SELECT is((SELECT count(*)::int FROM customercard.action_log l WHERE l.account_id = :a AND l.event = 'contact_created' AND l.actor = 'manager:1'), 4,
          'the rows are logged with the actor who queued the file');

-- forget_contact: the person's rows of the file go too
SELECT (SELECT contact_id FROM customercard.bulk_job_rows WHERE job_id = :job AND line = 2) AS anna \gset
SET customercard.account_id = :a;
SELECT customercard.forget_contact(:anna);
SELECT is((SELECT string_agg(data::text, ',') FROM customercard.bulk_job_rows WHERE job_id = :job AND contact_id = :anna), '{},{}',
          'forget_contact erases the person''s rows of imported files (both lines that became her)');

-- ---------------------------------------------------------------- run_at, cancel, .xlsx and JSON
SELECT customercard.import_enqueue(convert_to('[{"name": "Later"}]', 'UTF8'), 'json', run_at => now() + interval '1 hour') AS later \gset
SELECT is(customercard.bulk_run_batch(:a, :later, 10), 0, 'a job for later does not run before its time');
SELECT ok(customercard.bulk_cancel(:later), 'it can be cancelled');
SELECT is((SELECT string_agg(status, ',' ORDER BY line) FROM customercard.import_report(:later)), 'queued', '... its rows never imported');
SELECT customercard.bulk_enqueue('archive', contact_ids => ARRAY[(SELECT min(contact_id) FROM customercard.contacts WHERE account_id = :a)]) AS other \gset
SELECT throws_ok(format('SELECT * FROM customercard.import_report(%s)', :other),
                 '42704', NULL, 'import_report of a job that is no import: 42704');

SELECT * FROM finish();
ROLLBACK;
